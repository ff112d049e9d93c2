//! No-op: a full round trip through the backend, for tests and benchmarks.

use super::Op;
use crate::driver::{Files, OpSpec, Shim};
use crate::sys::syscall::Syscall;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Nop;

impl OpSpec for Nop {
    type Output = io::Result<()>;
    fn uring_entry(&mut self, _files: &Files<'_>) -> squeue::Entry {
        opcode::Nop::new().build()
    }
    fn syscall(&mut self) -> Syscall {
        Syscall::Nop
    }
    fn shim(&self) -> Shim<'_> {
        Shim::Inline
    }
    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}

pub(crate) fn nop() -> Op<Nop> {
    Op::new(Nop)
}
