import { describe, expect, it } from 'vitest';
import { lrAt } from '../../../src/train/schedule';
import { resolveTrainConfig } from '../../../src/train/config';

describe('lr schedule', () => {
  it('warms up linearly, then decays without a zero step', () => {
    expect(lrAt(1, 10, 1, 4, 'cosine')).toBeCloseTo(0.25);
    expect(lrAt(4, 10, 1, 4, 'cosine')).toBeCloseTo(1);
    expect(lrAt(5, 10, 1, 4, 'cosine')).toBeCloseTo(1);
    expect(lrAt(10, 10, 1, 4, 'cosine')).toBeCloseTo(0.5 * (1 + Math.cos((Math.PI * 5) / 6)));
    expect(lrAt(10, 10, 1, 4, 'linear')).toBeCloseTo(1 / 6);
    expect(lrAt(10, 10, 1, 4, 'constant')).toBe(1);
    for (let s = 1; s <= 10; s++) expect(lrAt(s, 10, 1, 0, 'cosine')).toBeGreaterThan(0);
  });

  it('rejects impossible configs with the field name', () => {
    expect(() => resolveTrainConfig({ r: 0 })).toThrow(/^r must/);
    expect(() => resolveTrainConfig({ lr: 2 })).toThrow(/lr/);
    expect(() => resolveTrainConfig({ targets: ['q', 'bogus'] })).toThrow(/bogus/);
    expect(resolveTrainConfig({ targets: ['q', 'v_proj'] }).targets).toEqual(['q_proj', 'v_proj']);
  });
});
