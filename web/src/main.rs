//! The rmaplab playground: replays a trace through many `pte_list_desc` configurations in the
//! browser and compares them side by side. All computation is `rmaplab-core`'s.

mod app;
mod components;
mod state;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
