//! The openmls side of a session: building KeyPackages and groups with the
//! sotto profile, parsing what the server relays, reading the roster.

use std::collections::BTreeMap;

use super::storage::Provider;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Credential, CredentialType, CredentialWithKey, Extension, ExtensionType,
    Extensions, GroupId, KeyPackage, KeyPackageBundle, LeafNode, Lifetime, MlsGroup,
    MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, OpenMlsProvider, OpenMlsRand, ProtocolVersion,
    UnknownExtension,
};
use openmls_basic_credential::SignatureKeyPair;

use super::config::{
    CIPHERSUITE, KEY_PACKAGE_LIFETIME_SECS, MAX_KEY_PACKAGE_BYTES, MAX_KEY_PACKAGE_RANGE_SECS,
    MAX_MLS_MESSAGE_BYTES, capabilities, join_config, required_capabilities,
};
use super::event::{Admission, Input, SessionError};
use crate::ParticipantId;
use crate::admission::{ADMISSION_TAG_EXTENSION, AdmissionKey, ROOM_BINDING_EXTENSION};
use crate::keys::{BASE_KEY_BYTES, BASE_KEY_LABEL, EpochKeys};
use crate::verify::{Fingerprint, RoomCode};

/// Bytes of the random MLS group id a creator picks.
const GROUP_ID_BYTES: usize = 16;

/// One member of the group as a session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its participant id (credential identity).
    pub participant: ParticipantId,
    /// Its leaf index.
    pub leaf: u32,
    /// Its identity's fingerprint.
    pub fingerprint: Fingerprint,
    /// Whether it came in with the link.
    pub admission: Admission,
    /// Whether its leaf carries an admission tag at all (checked or not):
    /// used only to rank committers when this session cannot check tags.
    pub(crate) claims_link: bool,
    pub(crate) signature_key: Vec<u8>,
}

pub(crate) fn internal(e: impl std::fmt::Debug) -> SessionError {
    SessionError::Internal(format!("{e:?}"))
}

pub(crate) fn rejected(input: Input, e: impl std::fmt::Debug) -> SessionError {
    SessionError::Rejected {
        input,
        detail: format!("{e:?}"),
    }
}

/// Our credential: a BasicCredential whose identity is our participant id.
pub(crate) fn credential(
    participant: &ParticipantId,
    signer: &SignatureKeyPair,
) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(participant.as_str().as_bytes().to_vec()).into(),
        signature_key: signer.public().into(),
    }
}

/// Our leaf's extensions: the admission tag when we have SECRET.
fn leaf_extensions(
    admission: Option<&AdmissionKey>,
    signer: &SignatureKeyPair,
) -> Result<Extensions<LeafNode>, SessionError> {
    match admission {
        Some(k) => Extensions::single(Extension::Unknown(
            ADMISSION_TAG_EXTENSION,
            UnknownExtension(k.admission_tag(signer.public()).to_vec()),
        ))
        .map_err(internal),
        None => Ok(Extensions::empty()),
    }
}

/// A KeyPackage for joining, stored in the provider for the Welcome.
pub(crate) fn key_package(
    provider: &Provider,
    signer: &SignatureKeyPair,
    credential: CredentialWithKey,
    admission: Option<&AdmissionKey>,
) -> Result<(KeyPackageBundle, Vec<u8>), SessionError> {
    key_package_for(
        provider,
        signer,
        credential,
        admission,
        KEY_PACKAGE_LIFETIME_SECS,
    )
}

fn key_package_for(
    provider: &Provider,
    signer: &SignatureKeyPair,
    credential: CredentialWithKey,
    admission: Option<&AdmissionKey>,
    lifetime_secs: u64,
) -> Result<(KeyPackageBundle, Vec<u8>), SessionError> {
    let bundle = KeyPackage::builder()
        .key_package_lifetime(Lifetime::new(lifetime_secs))
        .leaf_node_capabilities(capabilities())
        .leaf_node_extensions(leaf_extensions(admission, signer)?)
        .build(CIPHERSUITE, provider, signer, credential)
        .map_err(internal)?;
    let bytes = MlsMessageOut::from(bundle.key_package().clone())
        .to_bytes()
        .map_err(internal)?;
    Ok((bundle, bytes))
}

/// A new group at epoch 0 bound to the room (`room binding` extension).
pub(crate) fn create_group(
    provider: &Provider,
    signer: &SignatureKeyPair,
    credential: CredentialWithKey,
    admission: &AdmissionKey,
) -> Result<MlsGroup, SessionError> {
    let group_id: [u8; GROUP_ID_BYTES] = provider.rand().random_array().map_err(internal)?;
    let binding = admission.room_binding(&group_id);
    let context_extensions = Extensions::from_vec(vec![
        required_capabilities(),
        Extension::Unknown(ROOM_BINDING_EXTENSION, UnknownExtension(binding.to_vec())),
    ])
    .map_err(internal)?;
    let join = join_config();
    MlsGroup::builder()
        .with_group_id(GroupId::from_slice(&group_id))
        .ciphersuite(CIPHERSUITE)
        .with_wire_format_policy(join.wire_format_policy())
        .padding_size(join.padding_size())
        .max_past_epochs(super::config::MAX_PAST_EPOCHS)
        .use_ratchet_tree_extension(true)
        .with_capabilities(capabilities())
        .with_group_context_extensions(context_extensions)
        .with_leaf_node_extensions(leaf_extensions(Some(admission), signer)?)
        .map_err(internal)?
        .build(provider, signer, credential)
        .map_err(internal)
}

/// Parses an MLSMessage, refusing oversized input first.
pub(crate) fn parse(input: Input, bytes: &[u8]) -> Result<MlsMessageBodyIn, SessionError> {
    if bytes.len() > MAX_MLS_MESSAGE_BYTES {
        return Err(SessionError::TooLarge {
            input,
            len: bytes.len(),
        });
    }
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| SessionError::Malformed {
        input,
        detail: e.to_string(),
    })?;
    Ok(msg.extract())
}

/// The participant id in a credential, if it is a basic credential with a
/// valid id.
pub(crate) fn participant_of(credential: &Credential) -> Result<ParticipantId, String> {
    if credential.credential_type() != CredentialType::Basic {
        return Err(format!("{:?} credential", credential.credential_type()));
    }
    let basic = BasicCredential::try_from(credential.clone()).map_err(|e| e.to_string())?;
    ParticipantId::from_bytes(basic.identity()).map_err(|_| {
        format!(
            "invalid identity {:?}",
            String::from_utf8_lossy(basic.identity())
        )
    })
}

/// A credential's identity as text, for error messages.
pub(crate) fn identity_text(credential: &Credential) -> String {
    match participant_of(credential) {
        Ok(p) => p.as_str().to_owned(),
        Err(e) => e,
    }
}

/// Checks a joiner's KeyPackage (RFC 9420 §10.1 plus the sotto profile).
pub(crate) fn check_key_package(
    provider: &Provider,
    participant: &ParticipantId,
    bytes: &[u8],
) -> Result<KeyPackage, SessionError> {
    let bad = |reason: String| SessionError::BadKeyPackage {
        participant: participant.clone(),
        reason,
    };
    if bytes.len() > MAX_KEY_PACKAGE_BYTES {
        return Err(SessionError::TooLarge {
            input: Input::KeyPackage,
            len: bytes.len(),
        });
    }
    let MlsMessageBodyIn::KeyPackage(kp_in) = parse(Input::KeyPackage, bytes)? else {
        return Err(bad("not a KeyPackage".into()));
    };
    let kp = kp_in
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|e| bad(e.to_string()))?;
    if kp.ciphersuite() != CIPHERSUITE {
        return Err(bad(format!("ciphersuite {:?}", kp.ciphersuite())));
    }
    let life = kp.life_time();
    if life.not_after().saturating_sub(life.not_before()) > MAX_KEY_PACKAGE_RANGE_SECS {
        return Err(bad("valid for longer than a sotto KeyPackage".into()));
    }
    let leaf = kp.leaf_node();
    let caps = leaf.capabilities();
    let supports = |t: u16| caps.extensions().contains(&ExtensionType::Unknown(t));
    if !supports(ADMISSION_TAG_EXTENSION) || !supports(ROOM_BINDING_EXTENSION) {
        return Err(bad("does not support the sotto extensions".into()));
    }
    let who = participant_of(leaf.credential()).map_err(bad)?;
    if &who != participant {
        return Err(bad(format!("credential names {who:?}")));
    }
    if leaf.signature_key().as_slice().len() != 32 {
        return Err(bad("signature key is not Ed25519".into()));
    }
    Ok(kp)
}

/// The admission tag in a leaf, if any.
pub(crate) fn leaf_tag(leaf: &LeafNode) -> Option<&[u8]> {
    leaf.extensions()
        .unknown(ADMISSION_TAG_EXTENSION)
        .map(|e| e.0.as_slice())
}

/// How a leaf got in, as far as `admission` lets us tell.
pub(crate) fn admission_of(leaf: &LeafNode, admission: Option<&AdmissionKey>) -> Admission {
    match (admission, leaf_tag(leaf)) {
        (None, _) => Admission::Unverifiable,
        (Some(k), Some(tag)) if k.verify_admission_tag(leaf.signature_key().as_slice(), tag) => {
            Admission::Link
        }
        (Some(_), _) => Admission::Knock,
    }
}

/// Whether the group context carries a valid room binding.
pub(crate) fn bound_to_room(
    extensions: &Extensions<openmls::prelude::GroupContext>,
    group_id: &GroupId,
    admission: &AdmissionKey,
) -> bool {
    extensions
        .unknown(ROOM_BINDING_EXTENSION)
        .is_some_and(|b| admission.verify_room_binding(group_id.as_slice(), &b.0))
}

/// Every occupied leaf of the group's current epoch.
pub(crate) fn roster(
    group: &MlsGroup,
    admission: Option<&AdmissionKey>,
) -> Result<BTreeMap<u32, MemberInfo>, SessionError> {
    let mut out = BTreeMap::new();
    for m in group.members() {
        let leaf = group
            .public_group()
            .leaf(m.index)
            .ok_or_else(|| internal("member without a leaf"))?;
        // Every leaf was checked when it was added (ours, or by the
        // committer and by us in `check_adds`).
        let participant = participant_of(&m.credential).map_err(internal)?;
        out.insert(
            m.index.u32(),
            MemberInfo {
                participant,
                leaf: m.index.u32(),
                fingerprint: Fingerprint::of(&m.signature_key),
                admission: admission_of(leaf, admission),
                claims_link: leaf_tag(leaf).is_some(),
                signature_key: m.signature_key.clone(),
            },
        );
    }
    Ok(out)
}

/// The media keys of the group's current epoch (RFC 9605 §5.2).
pub(crate) fn epoch_keys(
    group: &MlsGroup,
    provider: &Provider,
    roster: &BTreeMap<u32, MemberInfo>,
) -> Result<EpochKeys, SessionError> {
    let exported = zeroize::Zeroizing::new(
        group
            .export_secret(provider.crypto(), BASE_KEY_LABEL, b"", BASE_KEY_BYTES)
            .map_err(internal)?,
    );
    let base_key: [u8; BASE_KEY_BYTES] = exported[..].try_into().map_err(internal)?;
    Ok(EpochKeys::new(
        group.epoch().as_u64(),
        base_key,
        group.own_leaf_index().u32(),
        roster
            .values()
            .map(|m| (m.leaf, m.participant.clone()))
            .collect(),
    ))
}

/// The room code of the group's current epoch.
pub(crate) fn room_code(group: &MlsGroup) -> RoomCode {
    RoomCode::from_epoch_authenticator(group.epoch_authenticator().as_slice())
}

/// Serialises an outgoing MLS message.
pub(crate) fn to_bytes(msg: &MlsMessageOut) -> Result<Vec<u8>, SessionError> {
    msg.tls_serialize_detached().map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn offered(lifetime_secs: u64) -> Result<KeyPackage, SessionError> {
        let provider = Provider::default();
        let who = ParticipantId::new("kp-lifetime").expect("id");
        let signer = Identity::generate().expect("identity").signer();
        let (_, bytes) = key_package_for(
            &provider,
            &signer,
            credential(&who, &signer),
            None,
            lifetime_secs,
        )
        .expect("built");
        check_key_package(&provider, &who, &bytes)
    }

    #[test]
    fn key_packages_valid_for_long_are_refused() {
        // openmls's default lifetime (84 days, RFC 9420 §16.8 suggests
        // short ones): a KeyPackage the server kept could be replayed into
        // a later group of the room for weeks.
        let e = offered(84 * 24 * 60 * 60).expect_err("refused");
        assert!(
            matches!(&e, SessionError::BadKeyPackage { reason, .. } if reason.contains("longer")),
            "{e:?}"
        );
        offered(KEY_PACKAGE_LIFETIME_SECS).expect("ours are accepted");
        const { assert!(KEY_PACKAGE_LIFETIME_SECS <= 60 * 60) };
    }
}
