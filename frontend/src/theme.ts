import { Badge, createTheme, DEFAULT_THEME, type CSSVariablesResolver } from '@mantine/core';

export const theme = createTheme({
  primaryColor: 'blue',
  // Filled buttons and badges one shade darker than Mantine's default, so white text on
  // them passes WCAG AA (4.5:1); autoContrast picks dark text on light fills (yellow).
  primaryShade: { light: 8, dark: 8 },
  autoContrast: true,
  defaultRadius: 'sm',
  // Focus rings for keyboard users only (:focus-visible), never hidden.
  focusRing: 'auto',
  fontFamilyMonospace: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
  components: {
    // A badge is one short word: a squeezed table column must not cut it to "AC…".
    Badge: Badge.extend({ styles: { root: { minWidth: 'max-content', flexShrink: 0 } } }),
  },
});

/**
 * Text colours that pass WCAG AA in both schemes (axe-core checks it in the e2e suite):
 * dimmed text, coloured text (`c="red"`) and the "light" variant of badges and buttons are
 * darker than Mantine's defaults in light mode and lighter in dark mode.
 */
export const cssVariablesResolver: CSSVariablesResolver = () => {
  const light: Record<string, string> = { '--mantine-color-dimmed': 'var(--mantine-color-gray-7)' };
  const dark: Record<string, string> = { '--mantine-color-dimmed': 'var(--mantine-color-dark-1)' };
  for (const name of Object.keys(DEFAULT_THEME.colors)) {
    if (name === 'dark') continue;
    // Shade 9 darkened further: green-9 on a green tint is only 3.8:1.
    const deep = `color-mix(in srgb, var(--mantine-color-${name}-9) 72%, black)`;
    light[`--mantine-color-${name}-text`] = deep;
    light[`--mantine-color-${name}-light-color`] = deep;
    light[`--mantine-color-${name}-outline`] = deep;
    dark[`--mantine-color-${name}-text`] = `var(--mantine-color-${name}-3)`;
    dark[`--mantine-color-${name}-light-color`] = `var(--mantine-color-${name}-2)`;
    dark[`--mantine-color-${name}-outline`] = `var(--mantine-color-${name}-3)`;
  }
  return { variables: {}, light, dark };
};
