//! Playground entry point.

fn main() {
    yew::Renderer::<rmaplab_web::app::App>::new().render();
}
