// English and French texts. The language comes from the saved choice, else
// navigator.language; the header's selector switches it at once.

const TEXTS = {
  en: {
    language: 'Language',
    homeTitle: 'Private video calls from a link',
    homeLead: 'Your browser encrypts your camera, microphone and messages before they leave it. The server in the middle forwards them but cannot see, hear or read them.',
    newRoom: 'Start a new call',
    joinByName: 'Or join a call by its name',
    roomPlaceholder: 'quiet-otter-lamp-42',
    join: 'Join',
    badRoom: 'A call name has 3 to 64 letters, digits or dashes.',
    point1: 'End-to-end encrypted with SFrame and MLS',
    point2: 'No account: the link is the key',
    point3: 'People with only the name must knock and be let in',
    readyToJoin: 'Ready to join',
    withLink: 'You have the link: you will enter directly.',
    withoutLink: 'You came by the call’s name: the people in the call will be asked to let you in. If nobody is there yet, you open the call.',
    yourName: 'Your name (only the people in the call see it)',
    camera: 'Camera',
    microphone: 'Microphone',
    cameraOn: 'Camera on',
    micOn: 'Microphone on',
    cameraOff: 'Camera off',
    micLevel: 'Microphone level',
    joinCall: 'Join the call',
    askToJoin: 'Join or ask to join',
    noDevices: 'No camera or microphone could be opened. You can still join.',
    unsupported: 'This browser cannot encrypt calls end to end. Please use a recent Chrome, Edge, Firefox or Safari.',
    chat: 'Chat',
    people: 'People',
    close: 'Close',
    message: 'Message',
    messagePlaceholder: 'Write a message…',
    send: 'Send',
    roomCode: 'Room code',
    roomCodeHint: 'Everyone in the call must see the same code. Compare it aloud.',
    yourFingerprint: 'Your fingerprint:',
    theirFingerprint: 'Their fingerprint:',
    mute: 'Mute',
    unmute: 'Unmute',
    stopVideo: 'Stop video',
    startVideo: 'Start video',
    shareScreen: 'Share screen',
    stopShare: 'Stop sharing',
    copyLink: 'Copy link',
    copied: 'Link copied',
    leave: 'Leave',
    backHome: 'Back to the start page',
    you: 'You',
    screenOf: '{name}’s screen',
    someone: 'Someone',
    connecting: 'Connecting…',
    waitingAdmission: 'Waiting for someone in the call to let you in…',
    waitingKeys: 'Waiting for keys…',
    cannotDecrypt: 'Cannot decrypt {name}’s video',
    encrypted: 'End-to-end encrypted',
    reconnecting: 'Connection lost. Reconnecting…',
    alone: 'You are the only one here. Share the link to invite people.',
    knockTitle: 'Someone without the link wants to join. Their fingerprint:',
    knockAccept: 'Let in',
    knockRefuse: 'Refuse',
    safetyTitle: 'Safety number',
    safetyWith: 'Between you and {name}',
    safetyHint: 'Compare this number with {name} in person or over another channel. If it matches, nobody is in the middle.',
    markVerified: 'Mark as verified',
    unmarkVerified: 'Remove verification',
    verified: 'Verified',
    verifiedAs: 'Verified as {name}',
    showSafety: 'Safety number',
    keyChanged: 'Warning: {name}’s key has changed since you verified it. This may be a different person or device. Compare safety numbers again before trusting this call.',
    keyChangedShort: 'Key changed!',
    refusedTitle: 'You were not let in',
    refusedText: 'Someone in the call refused your request.',
    leftTitle: 'You left the call',
    leftText: 'Thanks for calling.',
    errorTitle: 'The call ended',
    errorText: 'Something went wrong: {what}',
    openedTitle: 'You opened this call: nobody was here yet.',
    openedLink: 'The full link is now in your address bar. Whoever you give it to comes straight in, so share it only with them.',
    openedName: 'Or give people the call’s name, “{room}”: they will knock, and you let them in after comparing their fingerprint.',
    badLinkTitle: 'This link is damaged',
    badLinkText: 'The part after # is not a valid secret. Ask for the link again, or join by the call’s name and knock.',
    removedTitle: 'You were removed from the call',
    removedText: 'The other participants no longer share keys with you.',
    ghostTitle: 'This room is not the one in your link',
    ghostText: 'Someone without the link tried to let you into another room. Nothing was shown or sent.',
    participantsOne: '1 person',
    participantsMany: '{n} people',
    roomCodeChanged: 'The room code changed (someone joined or left): compare it again.',
    knockVerified: 'You verified this key before, as {name}.',
    knockNotVerified: 'Not verified: compare the fingerprint with them before letting them in.',
    keyConflict: 'Warning: the server sent two different keys for someone who was asking to join. This can be an attempt to get into the call in their place. Their request was dropped.',
    removalOverdue: 'Warning: the server says {name} left, but they are still in the call’s group. If they should not be here, remove them.',
    removeMember: 'Remove',
    notVerified: 'not verified',
    leaving: '(leaving…)',
    letInBy: 'let in after a knock, by {name}',
    letIn: 'let in after a knock',
    fullTitle: 'This call is full',
    fullText: 'The server allows no more people in this call. Try again later, or ask someone to leave.',
    tooManyRoomsTitle: 'This server is busy',
    tooManyRoomsText: 'The server hosts as many calls as it can. Try again later.',
    versionTitle: 'This page is out of date',
    versionText: 'The server speaks another version of sotto. Reload the page.',
    badRoomTitle: 'This is not a call name',
    badRoomText: 'The server refused the name of this call.',
    keepIdentity: 'Keep my identity on this browser',
    keepIdentityHint: 'People who verified you will recognise you in later calls, but the server can then tell that these calls came from the same browser. Off: a new identity for every call.',
  },
  fr: {
    language: 'Langue',
    homeTitle: 'Des appels vidéo privés, à partir d’un lien',
    homeLead: 'Votre navigateur chiffre votre caméra, votre micro et vos messages avant qu’ils ne le quittent. Le serveur les fait suivre sans pouvoir les voir, les entendre ni les lire.',
    newRoom: 'Lancer un nouvel appel',
    joinByName: 'Ou rejoindre un appel par son nom',
    roomPlaceholder: 'loutre-calme-lampe-42',
    join: 'Rejoindre',
    badRoom: 'Un nom d’appel compte de 3 à 64 lettres, chiffres ou tirets.',
    point1: 'Chiffré de bout en bout avec SFrame et MLS',
    point2: 'Sans compte : le lien est la clé',
    point3: 'Qui n’a que le nom doit frapper et être accepté',
    readyToJoin: 'Prêt à rejoindre',
    withLink: 'Vous avez le lien : vous entrerez directement.',
    withoutLink: 'Vous venez par le nom de l’appel : les personnes présentes devront vous accepter. Si personne n’est encore là, vous ouvrez l’appel.',
    yourName: 'Votre nom (seules les personnes de l’appel le voient)',
    camera: 'Caméra',
    microphone: 'Micro',
    cameraOn: 'Caméra allumée',
    micOn: 'Micro allumé',
    cameraOff: 'Caméra éteinte',
    micLevel: 'Niveau du micro',
    joinCall: 'Rejoindre l’appel',
    askToJoin: 'Entrer ou demander à entrer',
    noDevices: 'Aucune caméra ni aucun micro n’a pu être ouvert. Vous pouvez tout de même rejoindre.',
    unsupported: 'Ce navigateur ne sait pas chiffrer les appels de bout en bout. Utilisez un Chrome, Edge, Firefox ou Safari récent.',
    chat: 'Messages',
    people: 'Personnes',
    close: 'Fermer',
    message: 'Message',
    messagePlaceholder: 'Écrire un message…',
    send: 'Envoyer',
    roomCode: 'Code de la salle',
    roomCodeHint: 'Tout le monde doit voir le même code. Comparez-le à voix haute.',
    yourFingerprint: 'Votre empreinte :',
    theirFingerprint: 'Son empreinte :',
    mute: 'Couper le micro',
    unmute: 'Activer le micro',
    stopVideo: 'Couper la vidéo',
    startVideo: 'Activer la vidéo',
    shareScreen: 'Partager l’écran',
    stopShare: 'Arrêter le partage',
    copyLink: 'Copier le lien',
    copied: 'Lien copié',
    leave: 'Quitter',
    backHome: 'Retour à l’accueil',
    you: 'Vous',
    screenOf: 'Écran de {name}',
    someone: 'Quelqu’un',
    connecting: 'Connexion…',
    waitingAdmission: 'En attente qu’une personne de l’appel vous fasse entrer…',
    waitingKeys: 'En attente des clés…',
    cannotDecrypt: 'Impossible de déchiffrer la vidéo de {name}',
    encrypted: 'Chiffré de bout en bout',
    reconnecting: 'Connexion perdue. Reconnexion…',
    alone: 'Vous êtes seul·e ici. Partagez le lien pour inviter du monde.',
    knockTitle: 'Quelqu’un sans le lien demande à entrer. Son empreinte :',
    knockAccept: 'Faire entrer',
    knockRefuse: 'Refuser',
    safetyTitle: 'Numéro de sécurité',
    safetyWith: 'Entre vous et {name}',
    safetyHint: 'Comparez ce numéro avec {name} en personne ou par un autre canal. S’il est identique, personne ne s’est glissé entre vous.',
    markVerified: 'Marquer comme vérifié',
    unmarkVerified: 'Retirer la vérification',
    verified: 'Vérifié',
    verifiedAs: 'Vérifié sous le nom {name}',
    showSafety: 'Numéro de sécurité',
    keyChanged: 'Attention : la clé de {name} a changé depuis que vous l’avez vérifiée. Il peut s’agir d’une autre personne ou d’un autre appareil. Comparez à nouveau les numéros de sécurité avant de vous fier à cet appel.',
    keyChangedShort: 'Clé changée !',
    refusedTitle: 'Vous n’avez pas été accepté·e',
    refusedText: 'Une personne de l’appel a refusé votre demande.',
    leftTitle: 'Vous avez quitté l’appel',
    leftText: 'Merci d’avoir appelé.',
    errorTitle: 'L’appel est terminé',
    errorText: 'Un problème est survenu : {what}',
    openedTitle: 'Vous avez ouvert cet appel : personne n’était encore là.',
    openedLink: 'Le lien complet est maintenant dans votre barre d’adresse. Qui le reçoit entre directement : ne le partagez qu’avec les bonnes personnes.',
    openedName: 'Ou donnez le nom de l’appel, « {room} » : on frappera à la porte, et vous ouvrirez après avoir comparé l’empreinte.',
    badLinkTitle: 'Ce lien est abîmé',
    badLinkText: 'La partie après # n’est pas un secret valide. Redemandez le lien, ou rejoignez l’appel par son nom et frappez à la porte.',
    removedTitle: 'Vous avez été retiré de l’appel',
    removedText: 'Les autres participants ne partagent plus de clés avec vous.',
    ghostTitle: 'Ce salon n’est pas celui de votre lien',
    ghostText: 'Quelqu’un qui n’a pas le lien a tenté de vous faire entrer dans un autre salon. Rien n’a été montré ni envoyé.',
    participantsOne: '1 personne',
    participantsMany: '{n} personnes',
    roomCodeChanged: 'Le code de la salle a changé (quelqu’un est entré ou sorti) : comparez-le de nouveau.',
    knockVerified: 'Vous avez déjà vérifié cette clé, sous le nom {name}.',
    knockNotVerified: 'Non vérifiée : comparez l’empreinte avec la personne avant de la faire entrer.',
    keyConflict: 'Attention : le serveur a envoyé deux clés différentes pour une personne qui demandait à entrer. Ce peut être une tentative d’entrer dans l’appel à sa place. Sa demande a été écartée.',
    removalOverdue: 'Attention : le serveur dit que {name} est parti·e, mais cette personne est toujours dans le groupe de l’appel. Si elle ne doit pas être là, retirez-la.',
    removeMember: 'Retirer',
    notVerified: 'non vérifié',
    leaving: '(départ…)',
    letInBy: 'entré·e après avoir frappé, accepté·e par {name}',
    letIn: 'entré·e après avoir frappé',
    fullTitle: 'Cet appel est complet',
    fullText: 'Le serveur n’accepte plus personne dans cet appel. Réessayez plus tard, ou demandez à quelqu’un de partir.',
    tooManyRoomsTitle: 'Ce serveur est saturé',
    tooManyRoomsText: 'Le serveur accueille déjà autant d’appels qu’il le peut. Réessayez plus tard.',
    versionTitle: 'Cette page n’est plus à jour',
    versionText: 'Le serveur parle une autre version de sotto. Rechargez la page.',
    badRoomTitle: 'Ce n’est pas un nom d’appel',
    badRoomText: 'Le serveur a refusé le nom de cet appel.',
    keepIdentity: 'Garder mon identité dans ce navigateur',
    keepIdentityHint: 'Les personnes qui vous ont vérifié·e vous reconnaîtront lors des appels suivants, mais le serveur pourra alors savoir que ces appels viennent du même navigateur. Désactivé : une nouvelle identité à chaque appel.',
  },
};

export const LANGUAGES = Object.keys(TEXTS);
let lang = pick();
const listeners = new Set();

function pick() {
  const saved = localStorage.getItem('sotto.lang');
  if (saved && TEXTS[saved]) return saved;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = String(l).slice(0, 2).toLowerCase();
    if (TEXTS[base]) return base;
  }
  return 'en';
}

export function language() {
  return lang;
}

/** The text for `key`, with `{name}`-style variables filled in. */
export function t(key, vars = {}) {
  const s = TEXTS[lang][key] ?? TEXTS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

/** Fills every [data-i18n], [data-i18n-label], [data-i18n-placeholder]. */
export function apply(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}

export function setLanguage(l) {
  if (!TEXTS[l]) return;
  lang = l;
  localStorage.setItem('sotto.lang', l);
  apply();
  for (const f of listeners) f(l);
}

/** Calls `f` after every language switch (to redraw dynamic texts). */
export function onLanguage(f) {
  listeners.add(f);
}
