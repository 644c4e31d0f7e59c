// Patchify: cut images into non-overlapping p×p patches and flatten each (ViT, spec §4.3).
//   x: (N, C, H, W)  →  y: (N, T, C·p·p),   T = (H/p)·(W/p)
//   y[n, a·(W/p) + b, (c·p + i)·p + j] = x[n, c, a·p + i, b·p + j]
// Patches are numbered row-major over the grid and features in a conv kernel's (C, p, p)
// order, so patchify followed by a linear layer with weight (D, C·p·p) is the conv with
// kernel W.reshape(D, C, p, p), stride p (timm's PatchEmbed), with its output as (N, T, D).
// The map is a permutation: the backward pass is its inverse (unpatchify).
import { assertShape, type Tensor } from '../tensor.ts';

function patchDims(name: string, image: Tensor, p: number) {
  if (!Number.isInteger(p) || p < 1) throw new Error(`${name}: patch size ${p} is not allowed: it must be an integer ≥ 1`);
  if (image.shape.length !== 4) assertShape(`${name} image`, image, [-1, -1, -1, -1]);
  const [N, C, H, W] = image.shape;
  if (H % p !== 0 || W % p !== 0) {
    throw new Error(`${name}: an image of ${H}×${W} cannot be cut into ${p}×${p} patches: H and W must be divisible by the patch size ${p}`);
  }
  return { N, C, H, W, gh: H / p, gw: W / p };
}

/** Visits each (patch element, image element) pair as flat indices. */
function forEachPatchElement(image: Tensor, p: number, name: string, visit: (yIdx: number, xIdx: number) => void): void {
  const { N, C, H, W, gh, gw } = patchDims(name, image, p);
  const T = gh * gw, F = C * p * p;
  for (let n = 0; n < N; n++)
    for (let a = 0; a < gh; a++)
      for (let b = 0; b < gw; b++)
        for (let c = 0; c < C; c++)
          for (let i = 0; i < p; i++)
            for (let j = 0; j < p; j++) {
              visit((n * T + a * gw + b) * F + (c * p + i) * p + j, ((n * C + c) * H + a * p + i) * W + b * p + j);
            }
}

/** The shape [N, T, C·p·p] of the patches of an (N, C, H, W) image. */
export function patchifyOutputShape(x: Tensor, p: number): [number, number, number] {
  const { N, C, gh, gw } = patchDims('patchify', x, p);
  return [N, gh * gw, C * p * p];
}

/**
 * Overwrites y with the patches of x.
 *   y: (N, T, C·p·p)  x: (N, C, H, W)
 */
export function patchifyForward(y: Tensor, x: Tensor, p: number): void {
  assertShape('patchify y', y, patchifyOutputShape(x, p));
  forEachPatchElement(x, p, 'patchify', (yi, xi) => { y.data[yi] = x.data[xi]; });
}

/**
 * dx = unpatchify(dy): every patch element goes back to its pixel. Overwrites dx. Also the
 * inverse of patchifyForward (pass patches as dy to get the image back in dx).
 *   dx: (N, C, H, W)  dy: (N, T, C·p·p)
 */
export function patchifyBackward(dx: Tensor, dy: Tensor, p: number): void {
  assertShape('patchify dy', dy, patchifyOutputShape(dx, p));
  forEachPatchElement(dx, p, 'patchify', (yi, xi) => { dx.data[xi] = dy.data[yi]; });
}
