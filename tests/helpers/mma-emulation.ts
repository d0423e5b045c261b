// Plain-WGSL emulation of the subgroup-matrix builtins (chromium_experimental_subgroup_matrix),
// for testing tensor-core kernels on the software adapter, which has no subgroup matrices.
// Generalized from the emulation in tests/unit/ops/mma.test.ts (same idea, any arrays/layouts):
// a 16×16 matrix (left/right f16, result f32) is a struct SM { v: array<f32, 256> } held WHOLE
// by every lane; loads read the 256 elements from the named array (workgroup or storage, any
// element type, converted to f32), stores write them back converted to the array's element type
// (every lane writes the same values), and the product is plain f32 fma over the exact f16 values
// (an f16×f16 product is exact in f32, as on tensor cores with f32 accumulation).
// Entry points lose their @builtin(subgroup_id / subgroup_invocation_id / subgroup_size)
// parameters; they are recomputed from local_invocation_index with subgroups of 32.

const PRELUDE = `
struct SM { v: array<f32, 256> } // [r·16 + c]
fn mma(a: SM, b: SM, c: SM) -> SM {
  var o = c;
  for (var r = 0u; r < 16u; r++) {
    for (var j = 0u; j < 16u; j++) {
      var s = 0.0;
      for (var k = 0u; k < 16u; k++) { s = fma(a.v[r * 16u + k], b.v[k * 16u + j], s); }
      o.v[r * 16u + j] += s;
    }
  }
  return o;
}
`;

/** Element type of a module-scope array `var<...> name: array<T, ...>` (or runtime-sized). */
function elementType(code: string, name: string): string {
  const m = code.match(new RegExp(`var<[^>]*>\\s+${name}\\s*:\\s*array<\\s*(\\w+)`));
  if (!m) throw new Error(`mma-emulation: no array declaration for ${name}`);
  return m[1];
}

// i / 16 is the row, i % 16 the column of element i of the matrix.
const AT = { row_major: '(i / 16u) * ld + i % 16u', col_major: '(i % 16u) * ld + i / 16u' } as const;
type Layout = keyof typeof AT;

function loader(name: string, layout: Layout): string {
  return `fn ld_${name}_${layout}(off: u32, ld: u32) -> SM {
  var m: SM;
  for (var i = 0u; i < 256u; i++) { m.v[i] = f32(${name}[off + ${AT[layout]}]); }
  return m;
}
`;
}

function storer(name: string, layout: Layout, ty: string): string {
  return `fn st_${name}_${layout}(off: u32, m: SM, ld: u32) {
  for (var i = 0u; i < 256u; i++) { ${name}[off + ${AT[layout]}] = ${ty}(m.v[i]); }
}
`;
}

/** Rewrite the entry point's subgroup builtins into values derived from local_invocation_index. */
function rewriteBuiltins(code: string): string {
  const head = /@compute[^{]*?fn\s+\w+\s*\(/g;
  let m: RegExpExecArray | null;
  while ((m = head.exec(code))) {
    // the parameter list, up to the parenthesis that closes it (builtins contain parentheses)
    const open = m.index + m[0].length;
    let depth = 1, i = open;
    while (depth > 0) depth += code[i] === '(' ? 1 : code[i] === ')' ? -1 : 0, i++;
    const params = code.slice(open, i - 1);
    const brace = code.indexOf('{', i);
    const lets: string[] = [];
    let lid = params.match(/@builtin\(local_invocation_index\)\s*(\w+)/)?.[1];
    const kept = params.split(/,(?![^(]*\))/).map((p) => p.trim()).filter((p) => {
      const b = p.match(/@builtin\((subgroup_id|subgroup_invocation_id|subgroup_size)\)\s*(\w+)/);
      if (!b) return p.length > 0;
      lets.push(b[1] === 'subgroup_id' ? `let ${b[2]} = LID / 32u;` : b[1] === 'subgroup_invocation_id' ? `let ${b[2]} = LID % 32u;` : `let ${b[2]} = 32u;`);
      return false;
    });
    if (lets.length === 0) continue;
    if (!lid) { lid = 'emu_lid'; kept.push('@builtin(local_invocation_index) emu_lid: u32'); }
    const rewritten = `${kept.join(', ')}) {\n  ${lets.join(' ').replace(/LID/g, lid)}`;
    code = code.slice(0, open) + rewritten + code.slice(brace + 1);
    head.lastIndex = open + rewritten.length;
  }
  return code;
}

const cache = new Map<string, string>();
/** The kernel's own source with the subgroup-matrix builtins rewritten to plain WGSL (cached per source). */
export function emulate(code: string): string {
  let e = cache.get(code);
  if (e) return e;
  const extra = new Map<string, string>();
  e = code
    .replace(/\/\/[^\n]*/g, '') // comments mention the builtins
    .replace(/enable subgroups;\s*/g, '')
    .replace(/enable chromium_experimental_subgroup_matrix;\s*/g, '')
    .replace(/diagnostic\(off, chromium_experimental\.subgroup_matrix_uniformity\);\s*/g, '')
    .replace(/subgroup_matrix_(left|right)<f16, 16, 16>|subgroup_matrix_result<f32, 16, 16>/g, 'SM');
  e = e
    .replace(/subgroupMatrixLoad<SM, (row_major|col_major)>\(&(\w+), /g, (_m, layout: Layout, name: string) => {
      extra.set(`ld_${name}_${layout}`, loader(name, layout));
      return `ld_${name}_${layout}(`;
    })
    .replace(/subgroupMatrixStore<(row_major|col_major)>\(&(\w+), /g, (_m, layout: Layout, name: string) => {
      extra.set(`st_${name}_${layout}`, storer(name, layout, elementType(code, name)));
      return `st_${name}_${layout}(`;
    })
    .replace(/subgroupMatrixMultiplyAccumulate\(/g, 'mma(');
  e = rewriteBuiltins(e);
  if (/subgroupMatrix|subgroup_matrix|subgroup_id|subgroup_invocation_id|subgroup_size/.test(e))
    throw new Error('mma-emulation: builtins left after the rewrite');
  e += PRELUDE + [...extra.values()].join('');
  cache.set(code, e);
  return e;
}
