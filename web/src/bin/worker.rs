//! The replay worker: runs in a dedicated web worker so the page stays responsive.

fn main() {
    rmaplab_web::worker::run_worker();
}
