// Reference of attentionDecodeStep (attention_decode.ts) on host arrays: append the token's k, v
// at row `pos` of the caches, then attend over rows 0..pos (attention.ref.ts).

import type { AttnShape } from './attention';
import { attentionDecodeRef, kvCacheWriteRef } from './attention.ref';

type Out = Float64Array | Float32Array;
type In = ArrayLike<number>;

export function attentionDecodeStepRef(
  out: Out, // [1, H*D]
  kCache: Out, // [maxT, Hkv*D]
  vCache: Out, // [maxT, Hkv*D]
  q: In, // [1, H*D]
  k: In, // [1, Hkv*D]
  v: In, // [1, Hkv*D]
  pos: number,
  shape: AttnShape,
): void {
  kvCacheWriteRef(kCache, vCache, k, v, pos, shape.nKvHeads * shape.headDim);
  attentionDecodeRef(out, q, kCache, vCache, pos + 1, shape);
}
