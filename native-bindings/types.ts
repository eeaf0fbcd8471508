// The interfaces every primitive adapter implements. Native and fallback implementations of one
// primitive must produce byte-identical output (zstd excepted: see Zstd below), so a repository
// written with one reads with the other. Nothing here knows about repositories or the CLI.

export type PrimitiveName = 'blake3' | 'xchacha20poly1305' | 'aes256gcm' | 'argon2id' | 'zstd';

/**
 * 'native': an optional addon (may be missing or fail to load); 'builtin': native code inside Node
 * itself, present from some Node version on (node:zlib zstd, node:crypto argon2); 'wasm' and 'js':
 * the fallbacks every supported Node runs. See native-bindings/README.md for ENGINE_NATIVE=off.
 */
export type ImplKind = 'native' | 'builtin' | 'wasm' | 'js';

/** BLAKE3, 32-byte output. */
export interface Blake3 {
  readonly impl: string;
  hash(data: Uint8Array): Uint8Array;
  /** Keyed mode; key is exactly 32 bytes. */
  keyedHash(key: Uint8Array, data: Uint8Array): Uint8Array;
}

/** An AEAD with a fixed nonce size. seal returns ciphertext || 16-byte tag. */
export interface Aead {
  readonly impl: string;
  readonly keyBytes: 32;
  readonly nonceBytes: number;
  readonly tagBytes: 16;
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Returns null when authentication fails (wrong key, tampered data); never throws for that. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null;
  /**
   * seal() writing ciphertext || tag into `out`, which is exactly plaintext.length + 16 bytes and
   * does not overlap the plaintext: lets a hot loop reuse its buffers instead of allocating.
   */
  sealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array): void;
  /** open() writing the plaintext into `out` (exactly sealed.length - 16 bytes); false, with `out` zeroed, when authentication fails. */
  openInto(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, out: Uint8Array): boolean;
}

export interface Argon2Params {
  /** iterations (opslimit) */
  readonly t: number;
  /** memory in KiB (memlimit / 1024) */
  readonly mKiB: number;
  /** parallelism; libsodium supports only 1 */
  readonly p: 1;
}

export interface Argon2id {
  readonly impl: string;
  /** Argon2id v1.3 raw hash of `outBytes` bytes; salt is 16 bytes. */
  derive(password: Uint8Array, salt: Uint8Array, params: Argon2Params, outBytes: number): Promise<Uint8Array>;
}

/**
 * zstd. Compressed bytes may differ between implementations (and zstd versions); that is allowed
 * because blob ids are computed on plaintext. Every implementation must decompress every other's frames.
 */
export interface Zstd {
  readonly impl: string;
  compress(input: Uint8Array, level: number): Uint8Array;
  /** Throws if the frame is corrupt or would expand beyond maxOutput bytes. */
  decompress(input: Uint8Array, maxOutput: number): Uint8Array;
  /** The largest frame compress() can make from `inputLength` bytes (zstd's ZSTD_COMPRESSBOUND). */
  compressBound(inputLength: number): number;
  /** compress() into `out`, at least compressBound(input.length) bytes; returns the frame's length. */
  compressInto(input: Uint8Array, level: number, out: Uint8Array): number;
  /** decompress() into `out`, whose length is the limit (maxOutput); returns the bytes produced. */
  decompressInto(input: Uint8Array, out: Uint8Array): number;
}

export interface Primitives {
  readonly blake3: Blake3;
  readonly xchacha20poly1305: Aead;
  readonly aes256gcm: Aead;
  readonly argon2id: Argon2id;
  readonly zstd: Zstd;
}

/** What `engine doctor` prints for one primitive. */
export interface SelectionReport {
  readonly primitive: PrimitiveName;
  readonly chosen: string;
  readonly kind: ImplKind;
  readonly rejected: readonly { readonly impl: string; readonly reason: string }[];
  /** Set when the policy could not be honoured, e.g. ENGINE_NATIVE=off for a native-only primitive. */
  readonly note?: string;
}

/** Which implementations may be used: 'auto' takes the adapter's order; 'fallback' (ENGINE_NATIVE=off) skips addons and Node built-ins. */
export type NativePolicy = 'auto' | 'fallback';
