import { Code, CopyButton, Group, Paper, Button, Text } from '@mantine/core';
import type { Json } from '../api/types';

/**
 * Pretty-prints a payload, result or error. React escapes text children, so whatever a
 * task carries (markup, scripts) is shown as characters and never interpreted.
 */
export function JsonBlock({ value, label, empty = 'None' }: { value: Json | undefined; label: string; empty?: string }) {
  const text = value === null || value === undefined ? null : typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return (
    <Paper withBorder p="sm" radius="sm">
      <Group justify="space-between" mb="xs">
        <Text fw={600} size="sm">
          {label}
        </Text>
        {text !== null && (
          <CopyButton value={text}>
            {({ copied, copy }) => (
              <Button size="compact-xs" variant="subtle" onClick={copy} aria-label={`Copy ${label}`}>
                {copied ? 'Copied' : 'Copy'}
              </Button>
            )}
          </CopyButton>
        )}
      </Group>
      {text === null ? (
        <Text c="dimmed" size="sm">
          {empty}
        </Text>
      ) : (
        <Code block className="wrap-anywhere" style={{ maxHeight: 360, overflow: 'auto', whiteSpace: 'pre-wrap' }}>
          {text}
        </Code>
      )}
    </Paper>
  );
}
