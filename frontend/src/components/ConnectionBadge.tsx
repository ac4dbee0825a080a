import { Badge, Button, Group, Tooltip } from '@mantine/core';
import type { LiveStatus } from '../live/eventStream';
import { useLiveStatus, useReconnectNow } from '../live/LiveProvider';

const LOOK: Record<LiveStatus, { label: string; color: string; help: string }> = {
  connecting: { label: 'Connecting', color: 'gray', help: 'Opening the live event stream' },
  live: { label: 'Live', color: 'green', help: 'Updates arrive as they happen' },
  reconnecting: { label: 'Reconnecting', color: 'yellow', help: 'The live stream dropped; retrying and polling meanwhile' },
  polling: { label: 'Polling', color: 'orange', help: 'The live stream is unavailable; refreshing every 5 seconds' },
  paused: { label: 'Paused', color: 'gray', help: 'Updates pause while this tab is hidden' },
};

export function ConnectionBadge({ status }: { status?: LiveStatus }) {
  const current = useLiveStatus();
  const reconnectNow = useReconnectNow();
  const shown = status ?? current;
  const look = LOOK[shown];
  const badge = (
    <Tooltip label={look.help}>
      <Badge
        color={look.color}
        variant="dot"
        size="lg"
        role="status"
        aria-live="polite"
        aria-label={`Connection: ${look.label}`}
        data-testid="connection-status"
        tabIndex={0}
      >
        {look.label}
      </Badge>
    </Tooltip>
  );
  if (shown !== 'reconnecting' && shown !== 'polling') return badge;
  return (
    <Group gap={4} wrap="nowrap">
      {badge}
      <Button size="compact-xs" variant="subtle" onClick={reconnectNow} data-testid="reconnect-now">
        Reconnect now
      </Button>
    </Group>
  );
}
