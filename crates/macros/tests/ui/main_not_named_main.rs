#[spectrum::main]
async fn start() {}

fn main() {}
