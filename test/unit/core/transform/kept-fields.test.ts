import { describe, expect, it } from 'vitest';
import { keptAfterTransform } from '../../../../functions/core/transform/kept-fields';
import { transformSchema } from '../../../../functions/config/schema';

const t = (config: Record<string, unknown>) => transformSchema.parse(config);

describe('fields a change leaves as they are, through the transform', () => {
  it('follows rename and drops what include or exclude drop', () => {
    expect(keptAfterTransform(t({ rename: { bio: 'biography' } }), ['bio', 'photo'])).toEqual(['biography', 'photo']);
    expect(keptAfterTransform(t({ include: ['id', 'bio'] }), ['bio', 'photo'])).toEqual(['bio']);
    expect(keptAfterTransform(t({ exclude: ['photo'] }), ['bio', 'photo'])).toEqual(['bio']);
  });
});
