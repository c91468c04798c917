//! A descriptor an event loop (asyncio) watches: readable when something changed. Made on
//! first use, closed by `close`, so that a closed engine holds no descriptor.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::Error;

#[derive(Default)]
pub(crate) struct Wakeup {
    /// (reader, writer), both non-blocking.
    pair: Mutex<Option<(UnixStream, UnixStream)>>,
    /// Whether a byte was written since the last drain: one is enough to wake the reader.
    signalled: AtomicBool,
}

impl Wakeup {
    /// Makes the reader readable, if there is one.
    pub(crate) fn signal(&self) {
        if let Ok(pair) = self.pair.lock() {
            if let Some((_, writer)) = pair.as_ref() {
                if !self.signalled.swap(true, Ordering::AcqRel) {
                    // A full buffer already wakes the reader.
                    let _ = (&*writer).write(&[1]);
                }
            }
        }
    }

    /// The reader's descriptor, made on the first call.
    pub(crate) fn fd(&self) -> Result<RawFd, Error> {
        let mut pair = self.pair.lock().map_err(|_| Error::Poisoned)?;
        if let Some((reader, _)) = pair.as_ref() {
            return Ok(reader.as_raw_fd());
        }
        let (reader, writer) = UnixStream::pair().map_err(Error::Wakeup)?;
        reader.set_nonblocking(true).map_err(Error::Wakeup)?;
        writer.set_nonblocking(true).map_err(Error::Wakeup)?;
        let fd = reader.as_raw_fd();
        *pair = Some((reader, writer));
        Ok(fd)
    }

    /// Empties the reader, so that the next change signals it again.
    pub(crate) fn drain(&self) {
        if let Ok(pair) = self.pair.lock() {
            if let Some((reader, _)) = pair.as_ref() {
                self.signalled.store(false, Ordering::Release);
                let mut buffer = [0u8; 64];
                while matches!((&*reader).read(&mut buffer), Ok(n) if n > 0) {}
            }
        }
    }

    /// Closes both ends, if they were made.
    pub(crate) fn close(&self) {
        let pair = self.pair.lock().ok().and_then(|mut pair| pair.take());
        drop(pair);
    }
}
