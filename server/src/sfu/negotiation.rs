//! Offer/answer bookkeeping for a member's two peer connections.
//!
//! `pub` is offered by the member and answered by the server at once; `sub`
//! is offered by the server. At most one `sub` offer is outstanding: changes
//! that happen while it is (tracks published or gone) are queued and go out
//! as one new offer once the answer arrives (spec/protocol.md §4.6). Which
//! direction may offer on which connection is fixed, so there is no glare.
//!
//! Pure state: the caller makes the offers.

use sotto_proto::{PcKind, SdpKind};

/// An `sdp` message that is not allowed now (spec/protocol.md §5,
/// `out_of_order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum OutOfOrder {
    /// Only the member offers on `pub`.
    #[error("the server offers on pub only in answer to an offer")]
    AnswerOnPub,
    /// Only the server offers on `sub`.
    #[error("only the server offers on sub")]
    OfferOnSub,
    /// An answer on `sub` with no offer outstanding.
    #[error("no sub offer is outstanding")]
    NoOfferOutstanding,
}

/// Checks that an `sdp` message of `kind` on `pc` is a kind the member may
/// ever send.
pub(crate) fn check_direction(pc: PcKind, kind: SdpKind) -> Result<(), OutOfOrder> {
    match (pc, kind) {
        (PcKind::Pub, SdpKind::Offer) | (PcKind::Sub, SdpKind::Answer) => Ok(()),
        (PcKind::Pub, SdpKind::Answer) => Err(OutOfOrder::AnswerOnPub),
        (PcKind::Sub, SdpKind::Offer) => Err(OutOfOrder::OfferOnSub),
    }
}

/// What the caller should do after a change or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Next {
    /// Make an offer that reflects every change so far, then call
    /// [`SubNegotiation::offer_sent`].
    Offer,
    /// Nothing now.
    Wait,
}

/// The server-offered `sub` connection's negotiation state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum SubNegotiation {
    /// No offer outstanding.
    #[default]
    Stable,
    /// An offer is out; `queued` is whether something changed since.
    Offered {
        /// Changes wait for the answer.
        queued: bool,
    },
}

impl SubNegotiation {
    /// Something the `sub` offer must reflect changed.
    pub(crate) fn changed(&mut self) -> Next {
        match self {
            SubNegotiation::Stable => Next::Offer,
            SubNegotiation::Offered { queued } => {
                *queued = true;
                Next::Wait
            }
        }
    }

    /// An offer went out.
    pub(crate) fn offer_sent(&mut self) {
        *self = SubNegotiation::Offered { queued: false };
    }

    /// Making the offer failed: nothing is outstanding.
    pub(crate) fn offer_failed(&mut self) {
        *self = SubNegotiation::Stable;
    }

    /// The member's answer arrived (before it is applied: an answer with no
    /// offer outstanding is refused without touching the connection).
    pub(crate) fn answer_received(&mut self) -> Result<Next, OutOfOrder> {
        match *self {
            SubNegotiation::Stable => Err(OutOfOrder::NoOfferOutstanding),
            SubNegotiation::Offered { queued } => {
                *self = SubNegotiation::Stable;
                Ok(if queued { Next::Offer } else { Next::Wait })
            }
        }
    }

    /// Whether an offer is outstanding.
    #[cfg(test)]
    pub(crate) fn is_outstanding(&self) -> bool {
        matches!(self, SubNegotiation::Offered { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions() {
        assert_eq!(check_direction(PcKind::Pub, SdpKind::Offer), Ok(()));
        assert_eq!(check_direction(PcKind::Sub, SdpKind::Answer), Ok(()));
        assert_eq!(
            check_direction(PcKind::Pub, SdpKind::Answer),
            Err(OutOfOrder::AnswerOnPub)
        );
        assert_eq!(
            check_direction(PcKind::Sub, SdpKind::Offer),
            Err(OutOfOrder::OfferOnSub)
        );
    }

    #[test]
    fn changes_while_an_offer_is_out_are_queued_into_one_offer() {
        let mut n = SubNegotiation::default();
        assert_eq!(n.changed(), Next::Offer);
        n.offer_sent();
        assert!(n.is_outstanding());
        // Three members publish while the answer is outstanding: no offer yet.
        for _ in 0..3 {
            assert_eq!(n.changed(), Next::Wait);
        }
        // The answer releases exactly one new offer covering all three.
        assert_eq!(n.answer_received(), Ok(Next::Offer));
        n.offer_sent();
        assert_eq!(n.answer_received(), Ok(Next::Wait));
        assert!(!n.is_outstanding());
    }

    #[test]
    fn answer_without_offer_is_out_of_order_and_changes_nothing() {
        let mut n = SubNegotiation::default();
        assert_eq!(n.answer_received(), Err(OutOfOrder::NoOfferOutstanding));
        assert_eq!(n, SubNegotiation::Stable);
        n.offer_sent();
        assert_eq!(n.answer_received(), Ok(Next::Wait));
        assert_eq!(n.answer_received(), Err(OutOfOrder::NoOfferOutstanding));
    }

    #[test]
    fn failed_offer_leaves_nothing_outstanding() {
        let mut n = SubNegotiation::default();
        assert_eq!(n.changed(), Next::Offer);
        n.offer_failed();
        assert_eq!(n.changed(), Next::Offer);
    }
}
