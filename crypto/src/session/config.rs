//! Session timing and the MLS profile's fixed parameters.

use std::time::Duration;

use openmls::prelude::{
    Capabilities, Ciphersuite, CredentialType, Extension, ExtensionType, MlsGroupJoinConfig,
    PURE_CIPHERTEXT_WIRE_FORMAT_POLICY, ProtocolVersion, RequiredCapabilitiesExtension,
    SenderRatchetConfiguration,
};

use crate::admission::{ADMISSION_TAG_EXTENSION, ROOM_BINDING_EXTENSION};

/// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (RFC 9420 §17.1, 0x0001).
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// PrivateMessage content is padded to a multiple of this many bytes
/// (RFC 9420 §6.3.1), so the server learns chat lengths only roughly.
pub const PADDING_BYTES: usize = 256;

/// Past epochs whose application-message keys are kept (RFC 9420 §14), so
/// that chat and acks sent just before a commit still open after it.
pub const MAX_PAST_EPOCHS: usize = 3;

/// Largest MLS message accepted from the server (KeyPackage, Welcome,
/// commit or application message), in bytes. A Welcome with the ratchet
/// tree for 100 members is about 35 KB.
pub const MAX_MLS_MESSAGE_BYTES: usize = 512 * 1024;

/// Largest KeyPackage accepted, in bytes. A sotto KeyPackage is about
/// 350 bytes; the cap keeps a server from fanning out big ones to every
/// member (issue: a knock costs members what it costs the knocker).
pub const MAX_KEY_PACKAGE_BYTES: usize = 4096;

/// How long a KeyPackage this crate makes is valid (openmls adds an hour
/// before now for clock skew). Short, so that a KeyPackage the server
/// kept cannot be replayed into a later group of the room for long.
pub const KEY_PACKAGE_LIFETIME_SECS: u64 = 60 * 60;

/// Longest validity range accepted in a KeyPackage from someone else: ours,
/// the skew margin, and ten minutes for other clocks.
pub const MAX_KEY_PACKAGE_RANGE_SECS: u64 = KEY_PACKAGE_LIFETIME_SECS + 60 * 60 + 600;

/// When a session commits, and how often it refreshes its own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// How long the designated committer collects joins and departures
    /// after the first one before committing them together.
    pub batch_window: Duration,
    /// How long every other member waits before committing the same
    /// changes itself, plus [`fallback_step`](Self::fallback_step) per rank.
    pub fallback_delay: Duration,
    /// Extra wait per rank after the designated committer.
    pub fallback_step: Duration,
    /// How long to wait for the server's verdict on a commit before
    /// giving up on it and committing again.
    pub verdict_timeout: Duration,
    /// Mean interval between self-update commits (post-compromise
    /// security, RFC 9420 §16.6); each is jittered by ±20 %.
    pub self_update_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            batch_window: Duration::from_millis(200),
            fallback_delay: Duration::from_secs(2),
            fallback_step: Duration::from_millis(500),
            verdict_timeout: Duration::from_secs(10),
            self_update_interval: Duration::from_secs(600),
        }
    }
}

/// The two private extension types every sotto leaf supports.
fn sotto_extensions() -> [ExtensionType; 2] {
    [
        ExtensionType::Unknown(ADMISSION_TAG_EXTENSION),
        ExtensionType::Unknown(ROOM_BINDING_EXTENSION),
    ]
}

/// Leaf capabilities: MLS 1.0, ciphersuite 0x0001 only, the sotto
/// extensions, basic credentials (RFC 9420 §7.2).
pub(crate) fn capabilities() -> Capabilities {
    Capabilities::new(
        Some(&[ProtocolVersion::Mls10]),
        Some(&[CIPHERSUITE]),
        Some(&sotto_extensions()),
        None,
        Some(&[CredentialType::Basic]),
    )
}

/// The GroupContext's required capabilities (RFC 9420 §11.1): every
/// member must understand the sotto extensions and basic credentials.
pub(crate) fn required_capabilities() -> Extension {
    Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
        &sotto_extensions(),
        &[],
        &[CredentialType::Basic],
    ))
}

/// How every participant runs its group: only PrivateMessage for commits
/// and application messages, padded; Welcomes carry the ratchet tree.
pub(crate) fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .padding_size(PADDING_BYTES)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .use_ratchet_tree_extension(true)
        .sender_ratchet_configuration(SenderRatchetConfiguration::default())
        .build()
}
