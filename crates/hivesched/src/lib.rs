//! The `hivesched` command's library part: the demo (the service on a fast clock with a fake
//! fleet), shared by the binary and the stream benchmark; fault campaigns (`hivesched chaos` and
//! the fault tests); child replicas of `hivesched serve`, shared by the campaigns and the scale
//! benchmark.

pub mod chaos;
pub mod demo;
pub mod replicas;
