//! The one place in the workspace with `unsafe`: `sendmmsg(2)`, many datagrams to many peers in
//! one system call. Neither quinn-udp (one destination per call) nor socket2 offers it, and
//! nix's safe wrapper cannot be used: counting its results reads address slots it never
//! initialised for a send. Everything here builds the kernel's structures from borrowed data
//! that outlives the call; nothing is kept across calls but plain buffers.
//!
//! Off Linux the batch goes out one `send_to` at a time, with the same results.

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
}
