//! Per-channel state of one session (the next sequence number to send on a channel, the next
//! to deliver), sorted by channel.
//!
//! A session uses one channel or a few, so a sorted `Vec` beats a `HashMap` on both counts that
//! matter with many sessions: it holds no table of its own (a `HashMap` with one entry allocates
//! room for several) and a lookup hashes nothing. A chat session uses exactly one channel, so
//! a lone entry is kept inline: the common session allocates nothing per channel at all.

use super::Channel;

#[derive(Debug)]
enum Entries<V> {
    /// The only channel, held in place. Never the empty state: that is an empty `Many`.
    One((Channel, V)),
    /// None, or two and more, sorted by channel.
    Many(Vec<(Channel, V)>),
}

#[derive(Debug)]
pub(crate) struct ChannelMap<V>(Entries<V>);

impl<V> Default for ChannelMap<V> {
    fn default() -> Self {
        Self(Entries::Many(Vec::new()))
    }
}

impl<V> ChannelMap<V> {
    /// Up to this many channels the map grows one entry at a time instead of doubling.
    const EXACT_UP_TO: usize = 4;

    fn entries(&self) -> &[(Channel, V)] {
        match &self.0 {
            Entries::One(entry) => std::slice::from_ref(entry),
            Entries::Many(v) => v,
        }
    }

    fn entries_mut(&mut self) -> &mut [(Channel, V)] {
        match &mut self.0 {
            Entries::One(entry) => std::slice::from_mut(entry),
            Entries::Many(v) => v,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }

    fn find(&self, channel: Channel) -> Result<usize, usize> {
        self.entries().binary_search_by_key(&channel, |&(c, _)| c)
    }

    pub(crate) fn contains(&self, channel: Channel) -> bool {
        self.find(channel).is_ok()
    }

    pub(crate) fn get(&self, channel: Channel) -> Option<&V> {
        let i = self.find(channel).ok()?;
        self.entries().get(i).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, channel: Channel) -> Option<&mut V> {
        let i = self.find(channel).ok()?;
        self.entries_mut().get_mut(i).map(|(_, v)| v)
    }

    /// Whether the entries are held without an allocation of their own.
    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        match &self.0 {
            Entries::One(_) => true,
            Entries::Many(v) => v.capacity() == 0,
        }
    }

    pub(crate) fn get_or_insert_with(
        &mut self,
        channel: Channel,
        new: impl FnOnce() -> V,
    ) -> &mut V {
        let i = match self.find(channel) {
            Ok(i) => i,
            Err(i) => {
                self.insert_at(i, (channel, new()));
                i
            }
        };
        &mut self.entries_mut()[i].1
    }

    fn insert_at(&mut self, i: usize, entry: (Channel, V)) {
        let mut many = match std::mem::take(&mut self.0) {
            Entries::Many(v) if v.is_empty() => {
                self.0 = Entries::One(entry);
                return;
            }
            Entries::One(only) => {
                // The second channel: both move out to the heap, in order.
                let mut v = Vec::with_capacity(2);
                v.push(only);
                v
            }
            Entries::Many(v) => v,
        };
        if many.len() < Self::EXACT_UP_TO {
            // A first push would reserve four entries; most sessions need one or two.
            many.reserve_exact(1);
        }
        many.insert(i, entry);
        self.0 = Entries::Many(many);
    }
}

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries::Many(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_channel_is_kept_inline_and_more_stay_sorted() {
        assert!(std::mem::size_of::<ChannelMap<u32>>() <= 24);
        let mut map = ChannelMap::<u32>::default();
        assert!(map.is_inline());
        assert_eq!((map.len(), map.get(0)), (0, None));

        *map.get_or_insert_with(5, || 0) += 1;
        assert!(map.is_inline(), "a lone channel allocates nothing");
        assert_eq!((map.len(), map.get(5)), (1, Some(&1)));
        assert!(!map.contains(4));

        // Channels arrive in any order; lookups see them all, sorted.
        for c in [9, 1, 7, 3] {
            *map.get_or_insert_with(c, || u32::from(c) * 10) += 1;
        }
        assert!(!map.is_inline());
        assert_eq!(map.len(), 5);
        let channels: Vec<Channel> = map.entries().iter().map(|&(c, _)| c).collect();
        assert_eq!(channels, [1, 3, 5, 7, 9]);
        for (c, v) in [(1, 11), (3, 31), (5, 1), (7, 71), (9, 91)] {
            assert_eq!(map.get(c), Some(&v));
        }
        if let Some(v) = map.get_mut(7) {
            *v = 0;
        }
        assert_eq!(map.get(7), Some(&0));
        assert_eq!(map.get(2), None);

        // A second channel that sorts before the first.
        let mut map = ChannelMap::<u32>::default();
        map.get_or_insert_with(8, || 8);
        map.get_or_insert_with(2, || 2);
        assert_eq!(map.entries(), [(2, 2), (8, 8)]);
    }
}
