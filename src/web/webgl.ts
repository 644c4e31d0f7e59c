// What stands behind "WebGL2" in this browser: the renderer string (WEBGL_debug_renderer_info,
// where the browser exposes it) and whether it is a software renderer that runs on the CPU
// (SwiftShader, llvmpipe, …), where gpu.js's "GPU" kernels are slower than tfjs-wasm.
export interface WebGlInfo {
  /** null: no WebGL2 context at all. */
  renderer: string | null;
  software: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|softpipe|software|basic render|mesa offscreen/i;

export const isSoftwareRenderer = (renderer: string) => SOFTWARE.test(renderer);

export function webGlInfo(): WebGlInfo {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return { renderer: null, software: false };
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return { renderer, software: isSoftwareRenderer(renderer) };
}
