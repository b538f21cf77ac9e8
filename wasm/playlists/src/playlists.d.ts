// Types of the playlists module (playlists.js, globalThis.seguePlaylists),
// which the page loads after sign-in. Schema: docs/SYNC.md.

/** One entry of a playlist, in play order. */
export interface Entry {
  /** 16 lowercase hex digits. */
  id: string;
  trackId: string;
  /** Fractional index key; entries sort by (pos, id). */
  pos: string;
  addedBy: string;
}

export interface Playlist {
  id: string;
  name: string;
  owner: string;
  entries: Entry[];
}

export interface ConnectOptions {
  /** The relay's origin (the page's). */
  origin: string;
  /** The device token: used only in the /v1/sync WebSocket URL, kept nowhere else. */
  token: string;
  /** The signed-in user (GET /v1/me → device.user). */
  user: string;
  /** The library document id the relay assigned (GET /v1/me → library). */
  library: string;
  /** URL of Automerge's wasm (the page's #segue-assets "automerge"). */
  wasm: string;
  /** Called after any local or remote change of an open document. */
  onChange?: () => void;
}

export interface Store {
  readonly user: string;
  /** Playlist ids the library follows (own and shared), oldest saved first. */
  ids(): string[];
  get(id: string): Promise<Playlist>;
  /** Creates a playlist owned by the user, adds it to the library, returns its id; a name checkName refuses throws. */
  create(name: string): string;
  /** Appends a track; returns the new entry id. */
  add(id: string, trackId: string): Promise<string>;
  remove(id: string, entryId: string): Promise<void>;
  /** Moves an entry by delta places (−1 up, +1 down). */
  move(id: string, entryId: string, delta: number): Promise<void>;
  /** Adds a collaborator (owner only). */
  share(id: string, user: string): Promise<void>;
  collaborators(id: string): Promise<string[]>;
  /** Opens a shared playlist link (automerge:<id>) and adds it to the library; returns its id. */
  follow(url: string): Promise<string>;
  /** Renames a playlist; a name checkName refuses rejects. */
  rename(id: string, name: string): Promise<void>;
  /** True while the WebSocket to the relay is open. */
  online(): boolean;
  /** Writes every change made so far to IndexedDB (automerge-repo saves them after a short debounce). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function connect(o: ConnectOptions): Promise<Store>;
/** Entries of a playlist document in play order (entries without trackId or pos skipped). */
export function sorted(doc: unknown): Entry[];
/** A key strictly between a and b ("" = open end), with 3 random base-62 digits appended. */
export function keyBetween(a: string, b: string): string;
/** name trimmed when a Segue device may write it as a playlist's name (docs.CheckName: at most 256 bytes of UTF-8, no control, bidirectional formatting or lone surrogate character); throws naming why otherwise. */
export function checkName(name: string): string;
/** A playlist name as the page shows it: control, bidirectional formatting and lone surrogate characters written as \uXXXX, cut to 256 code units with "…". */
export function shown(name: string): string;
/** A Retry-After value (delta-seconds, or an HTTP-date relative to date, an answer's Date) in ms, at most 5 min; 0 for none or one that does not parse. */
export function retryAfter(v: string | null, date?: string | null): number;

declare global {
  var seguePlaylists: { connect: typeof connect; sorted: typeof sorted; keyBetween: typeof keyBetween; retryAfter: typeof retryAfter; checkName: typeof checkName; shown: typeof shown };
}
