//! The `hivesched` command's library part: the demo (the service on a fast clock with a fake
//! fleet), shared by the binary and the stream benchmark.

pub mod demo;
