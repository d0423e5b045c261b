// Frozen base linear layers: y = x · Wᵀ with W [out, in] held either as NF4 (QLoRA) or as
// 16-bit (bf16/f16, the exact "unquantized" path used by golden tests and small models).

import type { Gpu } from '../gpu/core/context';
import type { Tensor } from '../gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, type Nf4Weight } from '../gpu/ops/nf4';
import { matmul16, matmul16Backward, type Weight16 } from '../gpu/ops/w16';

export type LinearWeight = { kind: 'nf4'; w: Nf4Weight } | { kind: 'w16'; w: Weight16 };

export const linearOut = (l: LinearWeight) => l.w.rows;
export const linearIn = (l: LinearWeight) => l.w.cols;

/** y [T, out] (+)= x [T, in] · Wᵀ */
export function linearForward(gpu: Gpu, y: Tensor, x: Tensor, l: LinearWeight, accumulate = false): void {
  if (l.kind === 'nf4') nf4Matmul(gpu, y, x, l.w, { accumulate });
  else matmul16(gpu, y, x, l.w, { accumulate });
}

/** dx [T, in] (+)= dy [T, out] · W  (W frozen: no weight gradient) */
export function linearBackward(gpu: Gpu, dx: Tensor, dy: Tensor, l: LinearWeight, accumulate = false): void {
  if (l.kind === 'nf4') nf4MatmulBackward(gpu, dx, dy, l.w, { accumulate });
  else matmul16Backward(gpu, dx, dy, l.w, { accumulate });
}
