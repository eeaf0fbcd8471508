// Golden frames: the text below compressed at level 3 by zstd 1.5.7 (zstd-napi 0.0.13), once in
// one pass (the header declares the size, as our compressors always write it) and once streamed
// in two steps (size absent, which exercises the maxOutput-bounded path).

export const GOLDEN_TEXT = 'native-bindings golden frame: '.repeat(8) + 'the end.\n'; // 249 bytes

export const GOLDEN_FRAME_SIZED =
  '28b52ffd20f97d010074026e61746976652d62696e64696e677320676f6c64656e206672616d653a207468' +
  '6520656e642e0a01003e03a59c';

export const GOLDEN_FRAME_UNSIZED =
  '28b52ffd00587d010074026e61746976652d62696e64696e677320676f6c64656e206672616d653a207468' +
  '6520656e642e0a01003e03a59c';
