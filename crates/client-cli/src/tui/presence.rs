//! Who is where, in the full-screen client: a room's member list (as the server listed it,
//! then as people join, leave and go offline) and presence news, said in the DM buffer of the
//! person it is about when one is open (an away notice for a DM lands beside it; news, not a
//! message, so not counted unread), else in the server buffer.

use dgram_proto::chat::{Presence, Target, UserInfo};
use dgram_proto::Name;

use super::buffers::{Buffers, Line, Mark};
use crate::chat::render::clock;

impl Buffers {
    /// A room's members as the server listed them, and the list as a line in the room.
    pub(super) fn members(&mut self, room: &Target, users: &[UserInfo], text: String) {
        let i = self.index(room);
        let members = users
            .iter()
            .map(|u| (u.name.key().to_owned(), u.name.clone()));
        self.list[i].members = members.collect();
        let line = Line {
            time: clock(None),
            from: None,
            text,
            mark: Mark::None,
        };
        self.add(Some(room), line);
    }

    /// Someone joined (`came`) or left a room.
    pub(super) fn came_or_went(&mut self, name: &Name, room: &Target, came: bool) {
        let i = self.index(room);
        let members = &mut self.list[i].members;
        let verb = if came {
            members.insert(name.key().to_owned(), name.clone());
            "joined"
        } else {
            members.remove(name.key());
            "left"
        };
        let line = Line {
            time: clock(None),
            from: None,
            text: format!("{name} {verb}"),
            mark: Mark::None,
        };
        self.add(Some(room), line);
    }

    /// Someone came online, went offline, away or back: said where we talk with them.
    pub(super) fn presence(&mut self, name: &Name, presence: &Presence, text: String) {
        if let Presence::Offline = presence {
            for b in &mut self.list {
                b.members.remove(name.key());
            }
        }
        let dm = Target::User(name.clone());
        let open = self.list.iter().any(|b| b.target.as_ref() == Some(&dm));
        if !open || name.key() == self.me.key() {
            self.server(text);
            return;
        }
        let line = Line {
            time: clock(None),
            from: None,
            text,
            mark: Mark::None,
        };
        // News, not a message: it does not count as unread.
        let i = self.index(&dm);
        self.list[i].push(line);
    }
}
