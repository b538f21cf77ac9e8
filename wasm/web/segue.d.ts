// Types of the Segue web player API (segue.js defines globalThis.segue).

/** A quality tier; a change applies from the next track. */
export type Tier = "low" | "normal" | "high" | "very_high";

/** Where the player is, published on every change. */
export interface Status {
  state: "idle" | "buffering" | "playing" | "paused" | "ended";
  /** Current track id, "" when none. */
  track: string;
  /** Index in the play context, -1 when none. */
  index: number;
  /** Position in output frames (at audioContext.sampleRate) written to the output. */
  frame: number;
  /** Track length in output frames, 0 until known. */
  length: number;
  /** Position in seconds. */
  position: number;
  tier: Tier;
  volume: number;
  /** A warning or the reason a track was skipped. */
  error?: string;
  /** Set when the tier is more than the measured bandwidth sustains (never switched automatically). */
  tierWarning?: boolean;
}

/** One play of one track, as recorded in the device's history. */
export interface PlayEvent {
  event_id: string;
  device: string;
  track_id: string;
  tier: Tier;
  context: { kind: string; id?: string };
  [field: string]: unknown;
}

/** Options of Session.search (the relay's limits: limit 1–50, offset 0–1000). */
export interface SearchOptions {
  /** Comma-separated kinds: track, album, artist, playlist (default all four). */
  types?: string;
  /** Results per page (default 20). */
  limit?: number;
  offset?: number;
}

/** A matched range of a result's field: UTF-8 byte offsets [start, end) into title, album or artists[index]. */
export interface SearchHighlight {
  field: "title" | "artists" | "album";
  index?: number;
  start: number;
  end: number;
}

/** One search hit. Playlists are public ones and the caller's own. */
export interface SearchResult {
  kind: "track" | "album" | "artist" | "playlist";
  id: string;
  title: string;
  artists?: string[];
  album?: string;
  /** The catalog track that plays a track result; absent while an imported track has no audio. */
  audio_id?: string;
  highlights: SearchHighlight[];
}

/** The body of GET /v1/search. */
export interface SearchResponse {
  query: string;
  total: number;
  offset: number;
  limit: number;
  results: SearchResult[];
}

export interface OpenOptions {
  /** Initial tier (default "high"). */
  tier?: Tier;
  /** Use this context instead of a new AudioContext (its rate is the output rate). */
  audioContext?: BaseAudioContext;
  /** URLs of segue.wasm and worklet.js; default: the page's #segue-assets JSON. */
  assets?: { wasm: string; worklet: string };
  /** Output buffer in frames, a power of two (default 32768, ≈ 0.74 s at 44.1 kHz). */
  bufferFrames?: number;
  /** Use postMessage even when SharedArrayBuffer is available. */
  noSharedMemory?: boolean;
  /** Keep the device (identity, token — wrapped by a non-extractable WebCrypto key) in
   * IndexedDB across reloads (default true); false: memory only. */
  persist?: boolean;
  /** Keep the store (signed manifests, downloads and offline licences, pinned catalog key,
   * history) in IndexedDB (default true; the streaming blob cache is always in memory, see
   * docs/BENCHMARKS.md, Web player). false: memory only, and no downloads. */
  persistStore?: boolean;
  /** IndexedDB database of the store (default "segue-store"). */
  database?: string;
  /** Test hook: the worklet keeps a copy of every frame it plays (see captured), up to captureFrames. */
  capture?: boolean;
  /** The most frames the capture hook keeps between two captured() calls (default 4,194,304,
   * ≈ 95 s at 44.1 kHz); later frames are only counted (dropped). */
  captureFrames?: number;
  /** Test hook: enables session.advanceClock (the licence checks' clock, forward only). */
  testClock?: boolean;
}

/** A download request: an album, a playlist (automerge document id) or a track, at a tier. */
export interface DownloadRef {
  kind: "album" | "playlist" | "track";
  id: string;
  tier: Tier;
}

/** A snapshot of the downloads manager (times in ms since the epoch, by trusted time). */
export interface DownloadStatus {
  /**
   * One per request. tracks leaves out the unavailable ones: tracks the relay would not license when
   * the request was last resolved (reason "not_found": unknown or taken down; "embargoed": not
   * released yet), in request order; they are asked for again at the next resolve.
   */
  items: {
    ref: DownloadRef; resolved: boolean; tracks: number; tracksDone: number;
    unavailable: { track: string; reason: string }[]; error: string;
  }[];
  /** Distinct (track, tier) downloads, shared ones once, and how many are complete. */
  tracks: number;
  tracksDone: number;
  /** Encrypted bytes stored. */
  bytes: number;
  /** Why downloads are paused ("" when not). */
  paused: string;
  /** Offline licences: playback stops at until (expires plus the 48 h grace). */
  licenses: { entries: number; issued: number; expires: number; until: number }[];
  trustedNow: number;
  /** This device was deregistered: its licences were deleted. */
  revoked: boolean;
  /** The relay's reason for refusing the last renewal, "" when none. */
  refused: string;
}

/** One progress report of the downloads manager. */
export interface DownloadEvent {
  kind: "queued" | "resolved" | "progress" | "track_done" | "failed" | "paused" | "resumed" | "removed" | "renewed" | "renewal_refused";
  ref: DownloadRef;
  track: string;
  blobsDone: number;
  blobs: number;
  bytesDone: number;
  bytes: number;
  reason: string;
  error?: string;
}

export interface OutputStats {
  /** Frames of audio the worklet played. */
  played: number;
  /** Silent frames the worklet had to insert between frames of audio. */
  underruns: number;
  /** The first 32 underruns: [frames played before it, silent frames inserted, the context's frame then]. */
  gaps: [number, number, number][];
}

/** A catalog track's metadata (GET /v1/tracks/{id}). */
export interface Track {
  id: string;
  title: string;
  artist_ids: string[];
  album_id: string;
  track_number: number;
  disc_number: number;
  [field: string]: unknown;
}

/** What a share link plays (GET /s/{token}/preview). */
export interface SharePreview {
  kind: "track" | "album" | "playlist";
  /** The album or track id; absent for a playlist. */
  id?: string;
  title: string;
  subtitle?: string;
  /** How much of each track a visitor without an account hears. */
  preview_ms: number;
  tracks: { id: string; title: string; artists?: string }[];
}

/**
 * A session of the engine. Its calls reject an argument that is not what it should be instead of
 * reading it as 0: a number argument (seek's seconds, setVolume's gain, a play's start and frame)
 * must be a finite number (not a string, null, NaN or ±Infinity); start and frame whole numbers
 * from 0 to Number.MAX_SAFE_INTEGER; track ids an array of at most 100,000 strings. A play, seek or
 * skip it refuses leaves the playback exactly as it was: position, buffered audio, queue, pause.
 * The last play asked for is the one that plays: a play call still waiting for the relay when a
 * later play call or stop() is made rejects ("replaced by a later play") instead of starting.
 * A call the relay refuses for now (HTTP 429 or 503 naming a Retry-After) rejects with an Error
 * whose retryAfter is that wait in milliseconds (at most 5 minutes): ask again no sooner.
 */
export interface Session {
  readonly audioContext: BaseAudioContext;
  /** True when the output uses a SharedArrayBuffer ring (cross-origin isolated page). */
  readonly sharedMemory: boolean;
  readonly deviceId: string;
  /** True when this browser is already a registered device (a token was kept). */
  readonly loggedIn: boolean;
  signUp(user: string, password: string): Promise<void>;
  /** Registers this browser as a device of the account. Rejects ("signed in to another account:
   * sign out first") a login as another account than the one this browser signed in to last, before
   * anything is sent: its downloads, licences and queued plays are that account's until signOut(). */
  login(user: string, password: string): Promise<void>;
  /**
   * Signs this browser out: deregisters the device at the relay (its tokens stop working, its
   * offline slot is freed, its licences are void), closes the session and clears its IndexedDB store
   * (downloads, licences, queued plays, history) and key store (identity, token, account), so the
   * next sign-in is a new device of any account. Rejects, with nothing cleared, when the relay cannot
   * be reached; a device the relay already let go (a refused token) is cleared. The page's own
   * stores (the playlists replica, localStorage) are the page's to clear (segue.clearDatabase).
   */
  signOut(): Promise<void>;
  token(): Promise<string>;
  /** Authenticated GET of a catalog route (/v1/search?…, /v1/albums/…, /v1/tracks/…, /v1/artists/…, /v1/me). */
  get(path: string): Promise<unknown>;
  /** Catalog search (GET /v1/search): typo-tolerant, the last word a prefix. */
  search(query: string, options?: SearchOptions): Promise<SearchResponse>;
  /**
   * The metadata of up to 100,000 tracks (a playlist's entries): tracks[i] describes ids[i], or is
   * null when the relay does not know it (or the id is not one a track can have) or its metadata
   * could not be had — failed lists the indexes of the latter (offline, a relay error). Downloaded
   * tracks are answered from their records; the rest with POST /v1/tracks/batch, 100 distinct ids
   * a request, 4 at a time (one GET /v1/tracks/{id} each from a relay without that route).
   */
  tracks(ids: string[]): Promise<{ tracks: (Track | null)[]; failed: number[] }>;
  album(id: string): Promise<{ album: { id: string; title: string }; tracks: { id: string; title: string }[] }>;
  /** Plays album id from track index start, at output frame frame of that track (sample-exact).
   * Rejects an id that is none (empty, over 128 bytes, a "/") or a start past the album's last track. */
  playAlbum(id: string, start?: number, frame?: number): Promise<void>;
  /** Plays tracks by id (each with its own gain) from index start; frame: the output frame of
   * track start to begin at, sample-exactly (default 0). Rejects an empty list, a list with no entry
   * that is an id, or a start past its end; entries that are not ids among others are skipped as
   * tracks the relay does not know are. */
  playTracks(ids: string[], start?: number, contextKind?: string, contextId?: string, frame?: number): Promise<void>;
  /**
   * Plays the item of a share link (token = the last element of /s/{token}):
   * the whole item when signed in; otherwise each track's preview (the first
   * share.preview_ms of it), served without an account. preview tells which.
   */
  playShare(token: string): Promise<{ share: SharePreview; preview: boolean }>;
  /** Pauses: the output falls silent at once (the buffered audio is kept for resume) and the status turns "paused". */
  pause(): Promise<void>;
  resume(): Promise<void>;
  next(): Promise<void>;
  previous(): Promise<void>;
  stop(): Promise<void>;
  /** Seeks in the current track, sample-exactly; a position past its end is clamped to it; a
   * negative one is refused. */
  seek(seconds: number): Promise<void>;
  /**
   * Readies up to 8 tracks the listener may play next (an open album, search results) so that
   * playing one waits for no network: each one's verified manifest, header and first chunk
   * (encrypted, in memory) and content key; the first time, also decodes a few frames into
   * nothing so the browser has compiled the decoder. Resolves when done (Performance API mark
   * "segue:prefetched"); rejects with the errors of tracks that could not be readied (they play
   * as before). tier: default the current tier setting.
   *
   * Every play call marks, once each, the milestones to its first audio on the Performance API:
   * "segue:play", "segue:album", "segue:key", "segue:manifest", "segue:header", "segue:chunk",
   * "segue:decrypt", "segue:ring" (first frames in the worklet's buffer) and "segue:heard" (the
   * first quantum the worklet plays with audio, at the output's timestamp).
   */
  prefetch(ids: string[], tier?: Tier): Promise<void>;
  /** Sets the linear volume, clamped to [0, 1]. */
  setVolume(gain: number): Promise<void>;
  setTier(tier: Tier): Promise<void>;
  /** The last published status. */
  status(): Status;
  on(event: "status", fn: (s: Status) => void): () => void;
  on(event: "play", fn: (e: PlayEvent) => void): () => void;
  on(event: "download", fn: (e: DownloadEvent) => void): () => void;
  /** The relay refused the device token (expired or revoked): sign in again with login(), which
   * keeps this device (same id and keys). Downloads keep playing meanwhile. */
  on(event: "signedout", fn: () => void): () => void;
  /** Downloads kind/id for offline play at tier (default: the current tier): recorded at once,
   * then resolved, licensed and fetched in the background (see on("download")). */
  download(kind: DownloadRef["kind"], id: string, tier?: Tier): Promise<void>;
  removeDownload(kind: DownloadRef["kind"], id: string, tier?: Tier): Promise<void>;
  downloads(): Promise<DownloadStatus>;
  /** Renews every offline licence in one request (also done on its own a week before expiry). */
  renewLicenses(): Promise<void>;
  /**
   * Test hook, enabled only by segue.open's testClock option (the page: ?test-clock): moves the
   * clock of the downloads' licence checks forward by seconds (0 < seconds ≤ 400 days), never back.
   * It can only make offline licences expire sooner (the trusted clock never goes backwards), so it
   * cannot extend one. Rejects when not enabled.
   */
  advanceClock(seconds: number): Promise<void>;
  /** How a playlist download learns the playlist's track ids (the page's automerge replica). */
  setPlaylistResolver(fn: (playlistId: string) => Promise<string[]>): void;
  outputStats(): Promise<OutputStats>;
  /** Frames written to the output and not yet played. */
  buffered(): number;
  /** Test hook (open with capture: true): every frame played since the last call, interleaved stereo,
   * up to captureFrames; dropped counts the frames played past that bound. */
  captured(): Promise<OutputStats & { data: Float32Array; dropped: number }>;
  /**
   * Sends the plays waiting in this browser to the relay now, in signed batches of at most 500;
   * resolves with what the relay made of them. The session already does this on its own after
   * each play, when the browser comes back online and when the page is hidden, retrying a failed
   * upload after 5 s, doubling up to 5 min. A play leaves the browser's store only once the relay
   * answered for it (a failed or cut-off upload keeps it; sending it again counts it once).
   * Rejects when offline or signed out (the plays stay queued). rejected: plays the relay refused
   * for good, by reason (e.g. "unknown_track"; "undecodable": a play this browser stored damaged,
   * set aside unsent); held: plays dated after the relay's clock, kept to
   * be sent again. The tabs of the origin upload one at a time (Web Lock "plays-upload:<database>"):
   * while another tab uploads, this call waits for it, then sends what is still queued (often
   * nothing: the counts are then 0).
   */
  uploadPlays(): Promise<PlayUpload>;
  /** How many plays wait in this browser to be uploaded (all tabs' plays: one IndexedDB count, no play read). */
  pendingPlays(): Promise<number>;
  close(): Promise<void>;
}

/** What Session.uploadPlays sent: counts by the relay's answer. */
export interface PlayUpload {
  accepted: number;
  duplicate: number;
  held: number;
  rejected: Record<string, number>;
}

declare global {
  var segue: {
    /** Opens the engine for the relay at relayURL and starts the audio output. */
    open(relayURL: string, options?: OpenOptions): Promise<Session>;
    /** Empties every object store of the origin's IndexedDB database name (other tabs' open
     * connections do not hold it up, as they would a deletion). */
    clearDatabase(name: string): Promise<void>;
    tiers: Tier[];
  };
}
