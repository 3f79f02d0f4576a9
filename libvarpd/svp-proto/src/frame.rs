//! A streaming SVP frame reader, for both the client and the server.
//!
//! # Theory of operation
//!
//! TCP delivers a byte stream; [`SvpFrameReader`] accumulates it and yields
//! whole frames. As soon as 16 bytes are buffered the header is checked:
//! the version must be in the accepted range and `svp_size` at most the cap
//! (so a hostile `svp_size` never makes us buffer gigabytes). Once the
//! payload is complete the CRC is checked and the frame is handed out as a
//! header plus a borrowed payload slice. Consumed bytes are dropped lazily,
//! when more data is added, so a borrowed frame stays valid until then.
//!
//! An error leaves the stream out of sync: the caller must drop the
//! connection (as `svp_conn_pollin` resets with `SVP_RA_ERROR`).

use std::io::{self, Read};

use crate::crc::svp_frame_crc;
use crate::error::SvpError;
use crate::msg::SvpHeader;
use crate::wire::SVP_REQ_SIZE;
use crate::SVP_CURRENT_VERSION;

/// One whole, CRC-checked frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvpFrame<'a> {
    pub hdr: SvpHeader,
    /// Exactly `hdr.size` bytes.
    pub payload: &'a [u8],
}

/// Accumulates bytes and yields whole frames (see the module comment).
#[derive(Debug, Clone)]
pub struct SvpFrameReader {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte in `buf`.
    pos: usize,
    cap: u32,
    min_ver: u16,
    max_ver: u16,
}

/// How much [`SvpFrameReader::read_from`] asks for per call.
const READ_CHUNK: usize = 16 * 1024;

impl SvpFrameReader {
    /// A reader accepting only `SVP_CURRENT_VERSION` and payloads of at most
    /// `cap` bytes.
    pub fn new(cap: u32) -> SvpFrameReader {
        SvpFrameReader {
            buf: Vec::new(),
            pos: 0,
            cap,
            min_ver: SVP_CURRENT_VERSION,
            max_ver: SVP_CURRENT_VERSION,
        }
    }

    /// Accept versions `min..=max` instead (a server answering a v2 client's
    /// PING with a v1 PONG accepts 1..=2).
    pub fn with_versions(mut self, min: u16, max: u16) -> SvpFrameReader {
        self.min_ver = min;
        self.max_ver = max;
        self
    }

    /// The payload cap.
    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// Bytes buffered and not yet returned as frames (a partial frame).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Add bytes received from the peer.
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// One `read` from `r` into the buffer; returns what `read` returned
    /// (0 is end of file).
    pub fn read_from<R: Read + ?Sized>(&mut self, r: &mut R) -> io::Result<usize> {
        self.compact();
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let res = r.read(&mut self.buf[old..]);
        let n = *res.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        res
    }

    /// The header of the next frame if 16 bytes are buffered, checked for
    /// version and cap.
    fn check_header(&self) -> Result<Option<SvpHeader>, SvpError> {
        let avail = &self.buf[self.pos..];
        if avail.len() < SVP_REQ_SIZE {
            return Ok(None);
        }
        let hdr = SvpHeader::parse(avail)?;
        if hdr.ver < self.min_ver || hdr.ver > self.max_ver {
            return Err(SvpError::BadVersion(hdr.ver));
        }
        if hdr.size > self.cap {
            return Err(SvpError::SizeOverCap {
                size: hdr.size,
                cap: self.cap,
            });
        }
        Ok(Some(hdr))
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<SvpFrame<'_>>, SvpError> {
        let Some(hdr) = self.check_header()? else {
            return Ok(None);
        };
        let total = SVP_REQ_SIZE + hdr.size as usize;
        let avail = &self.buf[self.pos..];
        if avail.len() < total {
            return Ok(None);
        }
        let want = svp_frame_crc(&avail[..SVP_REQ_SIZE], &avail[SVP_REQ_SIZE..total]);
        if want != hdr.crc {
            return Err(SvpError::BadCrc { got: hdr.crc, want });
        }
        let start = self.pos;
        self.pos += total;
        Ok(Some(SvpFrame {
            hdr,
            payload: &self.buf[start + SVP_REQ_SIZE..start + total],
        }))
    }

    /// At end of file: an error when a partial frame is left over (a
    /// truncated frame), after checking its header if one is complete.
    pub fn finish(&self) -> Result<(), SvpError> {
        let left = self.buffered();
        if left == 0 {
            return Ok(());
        }
        let need = match self.check_header()? {
            Some(h) => SVP_REQ_SIZE + h.size as usize,
            None => SVP_REQ_SIZE,
        };
        Err(SvpError::ShortFrame { need, have: left })
    }
}
