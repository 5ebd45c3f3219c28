//! The one place in the workspace with `unsafe`: `sendmmsg(2)`, many datagrams to many peers in
//! one system call, each run of datagrams to one peer as one GSO send (`UDP_SEGMENT`), and
//! `SO_MEMINFO`, how full a socket's receive queue is. Neither quinn-udp (one destination per
//! call) nor socket2 offers them, and nix's safe `sendmmsg` cannot be used: counting its results
//! reads address slots it never initialised for a send. Everything here builds the kernel's
//! structures from borrowed data that outlives the call; nothing is kept across calls but plain
//! buffers.
//!
//! Off Linux the batch goes out one `send_to` at a time, with the same results, and the
//! receive queue's fill is unknown.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

use tokio::net::UdpSocket;

/// The most datagrams one call hands the kernel (Linux caps a call at `UIO_MAXIOV`, 1024).
pub const MAX_BATCH: usize = 64;

/// The most bytes one GSO send carries: an IPv4 datagram's 65,535 less its IP and UDP headers.
const MAX_GSO_BYTES: usize = 65_507;

/// Sends as many of `datagrams` as the socket takes without blocking, in order, and returns
/// how many went out. Consecutive datagrams to one peer leave as one GSO send of up to
/// `max_segments` (what quinn-udp's `max_gso_segments` says the socket can do; 1 sends each
/// alone), which the kernel cuts back into the same datagrams. An error means the first one
/// was not sent: `WouldBlock` when the socket buffer is full (wait for writability),
/// [`gso_refused`] when the path cannot segment (send again with 1), otherwise that datagram's
/// own failure (the caller skips it and goes on).
pub fn try_send_many(
    socket: &UdpSocket,
    datagrams: &[(SocketAddr, &[u8])],
    max_segments: usize,
) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_BATCH)];
    if datagrams.is_empty() {
        return Ok(0);
    }
    let runs = runs(datagrams, max_segments);
    socket.try_io(tokio::io::Interest::WRITABLE, || {
        imp::send_many(socket, datagrams, &runs)
    })
}

/// Whether `err`, from [`try_send_many`] with these arguments, means that the path cannot
/// segment: the first datagrams went as one GSO send, and failed as quinn-udp reads such a
/// failure (`EIO`, sometimes `EINVAL`). A single datagram's own error never counts.
pub fn gso_refused(
    err: &io::Error,
    datagrams: &[(SocketAddr, &[u8])],
    max_segments: usize,
) -> bool {
    let first = &datagrams[..datagrams.len().min(MAX_BATCH)];
    imp::gso_refused(err)
        && runs(first, max_segments)
            .first()
            .is_some_and(|run| run.len() > 1)
}

/// How `datagrams` splits into GSO sends, each run the datagrams it covers: consecutive
/// datagrams to one peer, all of the first's size but the last, which may be shorter (the
/// kernel cuts a GSO send into segments of one size), at most `max_segments` and
/// [`MAX_GSO_BYTES`] together. An empty datagram goes alone (nothing is longer than it, and
/// an empty one is never a segment).
fn runs(datagrams: &[(SocketAddr, &[u8])], max_segments: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < datagrams.len() {
        let (to, first) = datagrams[start];
        let (size, mut bytes, mut end) = (first.len(), first.len(), start + 1);
        while let Some(&(next_to, next)) = datagrams.get(end) {
            let fits = end - start < max_segments && bytes + next.len() <= MAX_GSO_BYTES;
            if next_to != to || next.len() > size || next.is_empty() || !fits {
                break;
            }
            bytes += next.len();
            end += 1;
            if next.len() < size {
                break; // a shorter one ends the run
            }
        }
        runs.push(start..end);
        start = end;
    }
    runs
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
    use std::ops::Range;
    use std::os::fd::AsRawFd;

    use socket2::SockAddr;
    use tokio::net::UdpSocket;

    /// `UDP_SEGMENT` from linux/udp.h (libc names it only for some targets).
    const UDP_SEGMENT: libc::c_int = 103;

    /// Room for one control message carrying a segment size (a `u16`).
    // SAFETY: CMSG_SPACE is arithmetic on its argument; it reads no memory.
    const CONTROL_SPACE: usize = unsafe { libc::CMSG_SPACE(2) } as usize;

    /// One GSO send's control data, aligned as the kernel's `cmsghdr`.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Control {
        _align: [libc::cmsghdr; 0],
        bytes: [u8; CONTROL_SPACE],
    }

    pub(super) fn send_many(
        socket: &UdpSocket,
        datagrams: &[(SocketAddr, &[u8])],
        runs: &[Range<usize>],
    ) -> io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = datagrams
            .iter()
            .map(|(_, bytes)| libc::iovec {
                // The kernel only reads through it (sendmmsg never writes its payloads).
                iov_base: bytes.as_ptr().cast_mut().cast(),
                iov_len: bytes.len(),
            })
            .collect();
        let addrs: Vec<SockAddr> = runs
            .iter()
            .map(|run| SockAddr::from(datagrams[run.start].0))
            .collect();
        let blank = Control {
            _align: [],
            bytes: [0; CONTROL_SPACE],
        };
        // Control data only for the GSO sends: none (and no allocation) when every datagram
        // goes to a peer of its own, as in a chat server's turn.
        let mut controls = vec![blank; runs.iter().filter(|run| run.len() > 1).count()];
        // Raw pointers taken once, so that setting up one header never invalidates another's.
        let (iov_base, control_base) = (iovs.as_mut_ptr(), controls.as_mut_ptr());
        let mut used = 0;
        let mut headers: Vec<libc::mmsghdr> = Vec::with_capacity(runs.len());
        for (k, run) in runs.iter().enumerate() {
            // SAFETY: mmsghdr is plain old data (pointers, lengths, flags); all zeroes is a
            // valid value (no name, no payload, no control data), and some targets have
            // private padding fields that cannot be named.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = addrs[k].as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = addrs[k].len();
            // SAFETY: the run is a range of `datagrams`, so of `iovs`: in bounds.
            h.msg_hdr.msg_iov = unsafe { iov_base.add(run.start) };
            h.msg_hdr.msg_iovlen = run.len() as _;
            if run.len() > 1 {
                let size = u16::try_from(datagrams[run.start].1.len()).unwrap_or(u16::MAX);
                // SAFETY: control `used` is in bounds (one was made per run longer than one)
                // and `CONTROL_SPACE` bytes, aligned as a cmsghdr, so CMSG_FIRSTHDR finds a
                // header inside it with room for its data; the data's alignment is not
                // promised, hence the unaligned write.
                unsafe {
                    h.msg_hdr.msg_control = control_base.add(used).cast();
                    h.msg_hdr.msg_controllen = CONTROL_SPACE as _;
                    let cmsg = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                    (*cmsg).cmsg_level = libc::SOL_UDP;
                    (*cmsg).cmsg_type = UDP_SEGMENT;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(2) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size);
                }
                used += 1;
            }
            headers.push(h);
        }
        let count = libc::c_uint::try_from(headers.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: `headers` holds `count` initialised entries whose name, iovec and control
        // pointers point into `addrs`, `iovs`, `controls` and the borrowed payloads, all alive
        // and unmoved until the call returns; the kernel writes only each entry's `msg_len`.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count,
                libc::MSG_DONTWAIT,
            )
        };
        let sent = usize::try_from(sent).map_err(|_| io::Error::last_os_error())?;
        // The kernel counts messages; the datagrams sent are those of the runs it took.
        Ok(runs[..sent.min(runs.len())].last().map_or(0, |run| run.end))
    }

    pub(super) fn gso_refused(err: &io::Error) -> bool {
        matches!(err.raw_os_error(), Some(libc::EIO | libc::EINVAL))
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
    use std::ops::Range;

    use tokio::net::UdpSocket;

    pub(super) fn send_many(
        socket: &UdpSocket,
        datagrams: &[(SocketAddr, &[u8])],
        _runs: &[Range<usize>],
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

    pub(super) fn gso_refused(_err: &io::Error) -> bool {
        false
    }

    pub(super) fn receive_backlog(_socket: &UdpSocket) -> io::Result<super::Backlog> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn lens(datagrams: &[(SocketAddr, &[u8])], max_segments: usize) -> Vec<usize> {
        runs(datagrams, max_segments)
            .iter()
            .map(Range::len)
            .collect()
    }

    #[test]
    fn runs_are_one_peer_one_size_and_a_shorter_last() {
        let (full, short) = ([1u8; 1200], [2u8; 300]);
        let d = [
            (at(1), &full[..]),
            (at(1), &full[..]),
            (at(1), &short[..]),
            (at(1), &full[..]), // after a shorter one: a new run
            (at(2), &full[..]), // another peer
            (at(2), &short[..]),
            (at(1), &short[..]),
            (at(1), &full[..]), // longer than the run's first: a new run
        ];
        assert_eq!(lens(&d, 64), vec![3, 1, 2, 1, 1]);
        assert_eq!(lens(&d, 1), vec![1; 8], "one segment: each alone");
        assert_eq!(lens(&d, 2), vec![2, 1, 1, 2, 1, 1]);
        let covered: Vec<usize> = runs(&d, 64).into_iter().flatten().collect();
        assert_eq!(
            covered,
            (0..8).collect::<Vec<_>>(),
            "every datagram once, in order"
        );
    }

    #[test]
    fn a_run_stops_short_of_the_largest_gso_send() {
        let full = [0u8; 1200];
        let d = vec![(at(1), &full[..]); 64];
        // 54 × 1200 = 64,800 fits in 65,507; 55 would not.
        assert_eq!(lens(&d, 64), vec![54, 10]);
        let empty: [u8; 0] = [];
        let e = vec![(at(1), &empty[..]); 3];
        assert_eq!(lens(&e, 64), vec![1, 1, 1], "an empty datagram goes alone");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_a_failed_gso_send_reads_as_the_path_refusing_segmentation() {
        let full = [0u8; 1200];
        let eio = io::Error::from_raw_os_error(libc::EIO);
        let two = [(at(1), &full[..]), (at(1), &full[..])];
        assert!(gso_refused(&eio, &two, 64));
        assert!(
            !gso_refused(&eio, &two, 1),
            "sent singly: that datagram's own error"
        );
        let apart = [(at(1), &full[..]), (at(2), &full[..])];
        assert!(
            !gso_refused(&eio, &apart, 64),
            "two peers: no GSO send was made"
        );
        let other = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert!(!gso_refused(&other, &two, 64));
    }
}
