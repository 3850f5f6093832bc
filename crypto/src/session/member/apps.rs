//! Application messages (spec/mls-profile.md §6): chat, profiles and key
//! acknowledgements, opened with the group's keys and checked against the
//! participant the server relayed them as from.

use openmls::prelude::{ContentType, ProcessedMessageContent, Sender};

use super::super::Ctx;
use super::super::event::{Event, Input, SessionError};
use super::super::group::{self, rejected};
use super::Member;
use crate::ParticipantId;
use crate::app::{AppError, AppMessage, Decoded};

/// How many mislabelled application messages are kept.
pub(super) const MISLABELLED_APPS_KEPT: usize = 16;

/// An application message that opened but was relayed under another
/// name: kept, because opening it used up its ratchet generation.
pub(super) struct MislabelledApp {
    bytes: Vec<u8>,
    leaf: u32,
    epoch: u64,
    actual: Result<ParticipantId, String>,
    content: Vec<u8>,
}

impl Member {
    pub(crate) fn handle_application(
        &mut self,
        ctx: &mut Ctx,
        from: &ParticipantId,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        let kept = self
            .mislabelled_apps
            .iter()
            .position(|m| m.bytes == bytes)
            .and_then(|i| self.mislabelled_apps.remove(i));
        let m = match kept {
            Some(m) => m,
            None => {
                let pm =
                    Self::private_message(Input::Application, bytes, ContentType::Application)?;
                let processed = self
                    .group
                    .process_message(&ctx.provider, pm)
                    .map_err(|e| rejected(Input::Application, e))?;
                let Sender::Member(leaf) = processed.sender() else {
                    return Err(rejected(Input::Application, "from a non-member"));
                };
                let leaf = leaf.u32();
                let epoch = processed.epoch().as_u64();
                let actual = group::participant_of(processed.credential());
                let ProcessedMessageContent::ApplicationMessage(app) = processed.into_content()
                else {
                    return Err(rejected(Input::Application, "not an application message"));
                };
                MislabelledApp {
                    bytes: bytes.to_vec(),
                    leaf,
                    epoch,
                    actual,
                    content: app.into_bytes(),
                }
            }
        };
        if m.actual.as_ref() != Ok(from) {
            let err = SessionError::SenderMismatch {
                claimed: from.clone(),
                actual: match &m.actual {
                    Ok(p) => p.as_str().to_owned(),
                    Err(e) => e.clone(),
                },
            };
            // Opening it used up its ratchet generation: keep it for the
            // relay under the right name.
            if self.mislabelled_apps.len() == MISLABELLED_APPS_KEPT {
                self.mislabelled_apps.pop_front();
            }
            self.mislabelled_apps.push_back(m);
            return Err(err);
        }
        let (leaf, msg_epoch) = (m.leaf, m.epoch);
        // Past epochs still open (MAX_PAST_EPOCHS), for messages sent just
        // before a commit; not for a member that commit removed: an
        // ex-member, with the server's help, cannot speak after it.
        if msg_epoch < self.epoch() && !self.roster().values().any(|i| &i.participant == from) {
            return Err(rejected(
                Input::Application,
                "sent in a past epoch by a member removed since",
            ));
        }
        let from = from.clone();
        let event = match AppMessage::decode(&m.content)? {
            Decoded::Known(AppMessage::Chat { text }) => Event::Chat { from, text },
            Decoded::Known(AppMessage::Profile { name }) => Event::Profile { from, name },
            Decoded::Known(AppMessage::Ack { epoch }) => {
                // An ack is only meaningful in the epoch it acknowledges.
                if epoch != msg_epoch {
                    return Err(AppError::Malformed(format!(
                        "ack for epoch {epoch} sent in epoch {msg_epoch}"
                    ))
                    .into());
                }
                Event::KeyAck { from, leaf, epoch }
            }
            Decoded::Known(AppMessage::Status(status)) => Event::Status { from, status },
            Decoded::Known(AppMessage::Reaction { emoji }) => Event::Reaction { from, emoji },
            Decoded::Unknown { kind } => Event::UnknownApplication { from, kind },
        };
        ctx.events.push_back(event);
        Ok(())
    }
}
