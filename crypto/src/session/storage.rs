//! Where openmls keeps state: only the private keys it needs to read back.
//!
//! openmls writes the whole group state (ratchet tree, secret trees of the
//! current and past epochs, transcript hashes...) to its storage after
//! every change, so that a group can be reloaded. A [`Session`] never
//! reloads: it holds its `MlsGroup` in memory and a participant that loses
//! it rejoins as a new member (`spec/protocol.md` §4.5). So group state is
//! not stored here at all. That saves serialising the secret tree to JSON
//! on every message (most of the CPU time of a 50-member room), and leaves
//! no stale copies of past epochs' secrets in storage buffers, which would
//! undercut forward secrecy.
//!
//! Key material openmls reads back while running (KeyPackage private keys
//! for the Welcome, leaf and path encryption keys for later commits) is
//! kept in openmls's own in-memory store.
//!
//! [`Session`]: super::Session

use openmls_rust_crypto::{MemoryStorage, MemoryStorageError, RustCrypto};
use openmls_traits::OpenMlsProvider;
use openmls_traits::storage::{CURRENT_VERSION, StorageProvider, traits};

/// The crypto, randomness and storage a session's group uses.
#[derive(Default)]
pub(crate) struct Provider {
    crypto: RustCrypto,
    storage: KeyStore,
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = KeyStore;

    fn storage(&self) -> &KeyStore {
        &self.storage
    }

    fn crypto(&self) -> &RustCrypto {
        &self.crypto
    }

    fn rand(&self) -> &RustCrypto {
        &self.crypto
    }
}

/// Stores private keys; accepts and forgets group state.
#[derive(Default)]
pub(crate) struct KeyStore {
    keys: MemoryStorage,
}

// Group-state writes are accepted and dropped; reads of group state (only
// `MlsGroup::load`, which sessions never call) find nothing.
impl StorageProvider<CURRENT_VERSION> for KeyStore {
    type Error = MemoryStorageError;

    fn write_mls_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _config: &MlsGroupJoinConfig,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn append_own_leaf_node<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _leaf_node: &LeafNode,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn queue_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _proposal_ref: &ProposalRef,
        _proposal: &QueuedProposal,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _tree: &TreeSync,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _interim_transcript_hash: &InterimTranscriptHash,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _group_context: &GroupContext,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _confirmation_tag: &ConfirmationTag,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _group_state: &GroupState,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _message_secrets: &MessageSecrets,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _resumption_psk_store: &ResumptionPskStore,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _own_leaf_index: &LeafNodeIndex,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _group_epoch_secrets: &GroupEpochSecrets,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn write_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
        signature_key_pair: &SignatureKeyPair,
    ) -> Result<(), Self::Error> {
        self.keys
            .write_signature_key_pair(public_key, signature_key_pair)
    }

    fn write_encryption_key_pair<
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
        key_pair: &HpkeKeyPair,
    ) -> Result<(), Self::Error> {
        self.keys.write_encryption_key_pair(public_key, key_pair)
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> Result<(), Self::Error> {
        self.keys
            .write_encryption_epoch_key_pairs(group_id, epoch, leaf_index, key_pairs)
    }

    fn write_key_package<
        HashReference: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &HashReference,
        key_package: &KeyPackage,
    ) -> Result<(), Self::Error> {
        self.keys.write_key_package(hash_ref, key_package)
    }

    fn write_psk<
        PskId: traits::PskId<CURRENT_VERSION>,
        PskBundle: traits::PskBundle<CURRENT_VERSION>,
    >(
        &self,
        psk_id: &PskId,
        psk: &PskBundle,
    ) -> Result<(), Self::Error> {
        self.keys.write_psk(psk_id, psk)
    }

    fn mls_group_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<MlsGroupJoinConfig>, Self::Error> {
        Ok(None)
    }

    fn own_leaf_nodes<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Vec<LeafNode>, Self::Error> {
        Ok(Vec::new())
    }

    fn queued_proposal_refs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Vec<ProposalRef>, Self::Error> {
        Ok(Vec::new())
    }

    fn queued_proposals<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Vec<(ProposalRef, QueuedProposal)>, Self::Error> {
        Ok(Vec::new())
    }

    fn tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<TreeSync>, Self::Error> {
        Ok(None)
    }

    fn group_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<GroupContext>, Self::Error> {
        Ok(None)
    }

    fn interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<InterimTranscriptHash>, Self::Error> {
        Ok(None)
    }

    fn confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<ConfirmationTag>, Self::Error> {
        Ok(None)
    }

    fn group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<GroupState>, Self::Error> {
        Ok(None)
    }

    fn message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<MessageSecrets>, Self::Error> {
        Ok(None)
    }

    fn resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<ResumptionPskStore>, Self::Error> {
        Ok(None)
    }

    fn own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<LeafNodeIndex>, Self::Error> {
        Ok(None)
    }

    fn group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<GroupEpochSecrets>, Self::Error> {
        Ok(None)
    }

    fn signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<Option<SignatureKeyPair>, Self::Error> {
        self.keys.signature_key_pair(public_key)
    }

    fn encryption_key_pair<
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<Option<HpkeKeyPair>, Self::Error> {
        self.keys.encryption_key_pair(public_key)
    }

    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<Vec<HpkeKeyPair>, Self::Error> {
        self.keys
            .encryption_epoch_key_pairs(group_id, epoch, leaf_index)
    }

    fn key_package<
        KeyPackageRef: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<Option<KeyPackage>, Self::Error> {
        self.keys.key_package(hash_ref)
    }

    fn psk<PskBundle: traits::PskBundle<CURRENT_VERSION>, PskId: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskId,
    ) -> Result<Option<PskBundle>, Self::Error> {
        self.keys.psk(psk_id)
    }

    fn remove_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
        _proposal_ref: &ProposalRef,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_own_leaf_nodes<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_group_config<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_tree<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_confirmation_tag<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_group_state<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_context<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_interim_transcript_hash<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_message_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_all_resumption_psk_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_own_leaf_index<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_group_epoch_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn clear_proposal_queue<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delete_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<(), Self::Error> {
        self.keys.delete_signature_key_pair(public_key)
    }

    fn delete_encryption_key_pair<EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<(), Self::Error> {
        self.keys.delete_encryption_key_pair(public_key)
    }

    fn delete_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<(), Self::Error> {
        self.keys
            .delete_encryption_epoch_key_pairs(group_id, epoch, leaf_index)
    }

    fn delete_key_package<KeyPackageRef: traits::HashReference<CURRENT_VERSION>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<(), Self::Error> {
        self.keys.delete_key_package(hash_ref)
    }

    fn delete_psk<PskKey: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskKey,
    ) -> Result<(), Self::Error> {
        self.keys.delete_psk(psk_id)
    }
}
