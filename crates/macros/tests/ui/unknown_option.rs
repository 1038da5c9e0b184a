#[spectrum::test(worker = 2)]
async fn typo() {}

fn main() {}
