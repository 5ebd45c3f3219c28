//! One service whichever instance a client reaches (issue 14): a DM sent through one instance
//! to a name claimed through the other a moment earlier is delivered, not refused as unknown
//! while the claim's log entry is still on its way to the sender's replica; a DM to a name
//! nobody claimed is still refused as unknown. Then the same through the sans-IO core: the
//! request waits for the store's fence and is answered after it.

use chat_server::core::{ChangeStore, Chat, ChatConfig, Fence, Op, Submitted, Ticket};
use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg};

use crate::cluster::{claim, delivered, got_message};
use crate::core_support::{addr, device, name};
use crate::nats_support::two_instances;
use crate::support::dm;

/// Names claimed through B, each DMed through A at once: enough for the log's lag to show
/// (without the fence, one of the first few was refused in a trial run); each keeps its
/// session, and with alex they stay under the per-address cap of 16.
const ROUNDS: usize = 14;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_to_a_name_just_claimed_elsewhere_is_delivered() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    let (mut alex, _) = claim(&a, "alex").await;
    for round in 0..ROUNDS {
        let who = format!("new{round}");
        let (mut fresh, _) = claim(&b, &who).await;
        // Straight away, with no retry: the claim is in the log, maybe not yet applied at A.
        let req = alex.req();
        let text = format!("hi {who}");
        alex.send(dm(req, &who, &text)).await;
        let answer = alex
            .until(|m| matches!(m, ServerMsg::Accepted { req: r, .. } | ServerMsg::Error { req: Some(r), .. } if *r == req))
            .await;
        let ServerMsg::Accepted { id, .. } = answer else {
            panic!("round {round}: a DM to {who}, claimed through B, refused: {answer:?}");
        };
        assert_eq!(got_message(&mut fresh, &text).await, id);
        delivered(&mut alex, id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_to_a_name_nobody_claimed_is_refused_as_unknown() {
    let (_nats, a, _b) = two_instances().await;
    let (mut alex, _) = claim(&a, "alex").await;
    let req = alex.req();
    alex.send(dm(req, "nobody", "hello?")).await;
    let answer = alex
        .until(|m| matches!(m, ServerMsg::Accepted { req: r, .. } | ServerMsg::Error { req: Some(r), .. } if *r == req))
        .await;
    assert!(
        matches!(&answer, ServerMsg::Error { kind: ErrorKind::UnknownUser, message, .. } if message.contains("no user named nobody")),
        "{answer:?}"
    );
}

/// A replica's store that takes fences (as the cluster's does) and commits at once.
#[derive(Debug, Default)]
struct Fencing(Vec<Fence>);

impl ChangeStore for Fencing {
    fn keeps(&self) -> bool {
        true
    }
    fn submit(&mut self, _ticket: Ticket, _ops: Vec<Op>) -> Submitted {
        Submitted::Committed
    }
    fn backlog(&self) -> usize {
        0
    }
    fn fence(&mut self, fence: Fence) -> Result<(), Fence> {
        self.0.push(fence);
        Ok(())
    }
}

const NOW: u64 = 1_700_000_000_000;

fn replica() -> Chat<Fencing> {
    let mut chat = Chat::new(ChatConfig::default(), Fencing::default());
    chat.id_space(1024, 1);
    chat.open(1, addr(40001), Some(device(1)));
    let hello = ClientMsg::Hello {
        name: name("alex"),
        key: None,
        send_only: false,
    };
    chat.handle(1, NOW, hello);
    chat
}

fn answers(out: Vec<chat_server::core::Output>) -> Vec<ServerMsg> {
    out.into_iter().map(|o| (*o.msg).clone()).collect()
}

#[test]
fn core_a_dm_to_an_unknown_name_waits_for_the_fence() {
    let mut chat = replica();
    // Unknown here: nothing is answered yet, the request goes to the store's fence.
    assert!(chat.handle(1, NOW, dm(7, "bea", "hi")).is_empty());
    let fence = chat.store_mut().0.pop().expect("fenced");
    // The claim made elsewhere arrives before the fence passes.
    let claimed = vec![Op::Claim {
        name: name("bea"),
        owner: [2; 32],
        at_ms: NOW,
    }];
    chat.replicate("x", claimed, true);
    let out = answers(chat.fenced(fence, NOW, Ok(())));
    assert!(
        out.iter()
            .any(|m| matches!(m, ServerMsg::Accepted { req: 7, .. })),
        "{out:?}"
    );
    // Known now: answered at once.
    let out = answers(chat.handle(1, NOW, dm(8, "bea", "again")));
    assert!(out
        .iter()
        .any(|m| matches!(m, ServerMsg::Accepted { req: 8, .. })));
}

#[test]
fn core_after_the_fence_an_unknown_name_is_refused_and_a_late_fence_refuses_too() {
    let mut chat = replica();
    assert!(chat.handle(1, NOW, dm(7, "nobody", "hi")).is_empty());
    let fence = chat.store_mut().0.pop().expect("fenced");
    let out = answers(chat.fenced(fence, NOW, Ok(())));
    assert!(
        matches!(&out[..], [ServerMsg::Error { req: Some(7), kind: ErrorKind::UnknownUser, message }] if message.contains("no user named nobody")),
        "{out:?}"
    );
    assert!(chat.handle(1, NOW, dm(8, "nobody", "hi")).is_empty());
    let fence = chat.store_mut().0.pop().expect("fenced");
    let out = answers(chat.fenced(fence, NOW, Err("no answer in 2s")));
    assert!(
        matches!(&out[..], [ServerMsg::Error { req: Some(8), kind: ErrorKind::Unavailable, message }] if message.contains("not sent")),
        "{out:?}"
    );
}
