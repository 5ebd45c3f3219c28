//! The one place in the workspace with `unsafe`: `sendmmsg(2)`, many datagrams to many peers in
//! one system call, and `SO_MEMINFO`, how full a socket's receive queue is. Neither quinn-udp
//! (one destination per call) nor socket2 offers them, and nix's safe `sendmmsg` cannot be
//! used: counting its results reads address slots it never initialised for a send. Everything
//! here builds the kernel's structures from borrowed data that outlives the call; nothing is
//! kept across calls but plain buffers.
//!
//! Off Linux the batch goes out one `send_to` at a time, with the same results, and the
//! receive queue's fill is unknown.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// The most datagrams one call hands the kernel (Linux caps a call at `UIO_MAXIOV`, 1024).
pub const MAX_BATCH: usize = 64;

/// Sends as many of `datagrams` as the socket takes without blocking, in order, and returns
/// how many went out. An error means the first one was not sent: `WouldBlock` when the socket
/// buffer is full (wait for writability), otherwise that datagram's own failure (the caller
/// skips it and goes on).
pub fn try_send_many(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_BATCH)];
    if datagrams.is_empty() {
        return Ok(0);
    }
    socket.try_io(tokio::io::Interest::WRITABLE, || {
        imp::send_many(socket, datagrams)
    })
}

/// How full a socket's receive queue is, in the kernel's own accounting (each datagram counts
/// its buffer's true size, about 2.3 KB for a 1200-byte datagram on Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Bytes the queued datagrams take.
    pub queued: u32,
    /// Bytes the queue may take before the kernel drops what arrives (0: unknown).
    pub capacity: u32,
}

impl Backlog {
    /// An empty queue of unknown size: what a turn that drained the socket reports.
    pub const EMPTY: Self = Self {
        queued: 0,
        capacity: 0,
    };

    /// How full the queue is, 0 to 100 (0 when its size is unknown).
    pub fn percent(&self) -> u32 {
        if self.capacity == 0 {
            return 0;
        }
        let percent = u64::from(self.queued) * 100 / u64::from(self.capacity);
        u32::try_from(percent.min(100)).unwrap_or(100)
    }
}

/// How full `socket`'s receive queue is now. `Unsupported` off Linux.
pub fn receive_backlog(socket: &UdpSocket) -> io::Result<Backlog> {
    imp::receive_backlog(socket)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod imp {
    use std::io;
    use std::net::SocketAddr;
    use std::os::fd::AsRawFd;

    use socket2::SockAddr;
    use tokio::net::UdpSocket;

    pub(super) fn send_many(
        socket: &UdpSocket,
        datagrams: &[(SocketAddr, &[u8])],
    ) -> io::Result<usize> {
        let addrs: Vec<SockAddr> = datagrams
            .iter()
            .map(|(to, _)| SockAddr::from(*to))
            .collect();
        let mut iovs: Vec<libc::iovec> = datagrams
            .iter()
            .map(|(_, bytes)| libc::iovec {
                // The kernel only reads through it (sendmmsg never writes its payloads).
                iov_base: bytes.as_ptr().cast_mut().cast(),
                iov_len: bytes.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = addrs
            .iter()
            .zip(iovs.iter_mut())
            .map(|(addr, iov)| {
                // SAFETY: mmsghdr is plain old data (pointers, lengths, flags); all zeroes is a
                // valid value (no name, no payload, no control data), and some targets have
                // private padding fields that cannot be named.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
                h.msg_hdr.msg_namelen = addr.len();
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        let count = libc::c_uint::try_from(headers.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: `headers` holds `count` initialised entries whose name and iovec pointers
        // point into `addrs`, `iovs` and the borrowed payloads, all alive and unmoved until
        // the call returns; the kernel writes only each entry's `msg_len`.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count,
                libc::MSG_DONTWAIT,
            )
        };
        usize::try_from(sent).map_err(|_| io::Error::last_os_error())
    }

    pub(super) fn receive_backlog(socket: &UdpSocket) -> io::Result<super::Backlog> {
        // The first two of the kernel's SK_MEMINFO_* counters: what the receive queue holds
        // and what it may hold (SK_MEMINFO_RMEM_ALLOC, SK_MEMINFO_RCVBUF); the kernel copies
        // no more than the length it is given.
        let mut info = [0u32; 2];
        let mut len = libc::socklen_t::try_from(std::mem::size_of_val(&info)).unwrap_or(0);
        // SAFETY: `info` is a live, writable buffer of `len` bytes for the whole call, and
        // the kernel writes at most `len` bytes into it and the new length into `len`.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let [queued, capacity] = info;
        Ok(super::Backlog { queued, capacity })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;
    use std::net::SocketAddr;

    use tokio::net::UdpSocket;

    pub(super) fn send_many(
        socket: &UdpSocket,
        datagrams: &[(SocketAddr, &[u8])],
    ) -> io::Result<usize> {
        let mut sent = 0;
        for (to, bytes) in datagrams {
            match socket.try_send_to(bytes, *to) {
                Ok(_) => sent += 1,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    pub(super) fn receive_backlog(_socket: &UdpSocket) -> io::Result<super::Backlog> {
        Err(io::ErrorKind::Unsupported.into())
    }
}
