import { Alert, Button } from '@mantine/core';
import { IconPlayerPause, IconPlayerPlay } from '@tabler/icons-react';

/** Stops and restarts a live list's refreshing (see `useLiveList`'s `paused`). */
export function LivePauseButton({ paused, onToggle }: { paused: boolean; onToggle: () => void }) {
  return (
    <Button
      variant="default"
      leftSection={paused ? <IconPlayerPlay size={16} aria-hidden /> : <IconPlayerPause size={16} aria-hidden />}
      onClick={onToggle}
      aria-pressed={paused}
    >
      {paused ? 'Resume live updates' : 'Pause live updates'}
    </Button>
  );
}

export interface LiveListNoticeProps {
  paused: boolean;
  newCount: number;
  /** The probe saw its limit: there may be more than `newCount`. */
  newCapped: boolean;
  onShowNew: () => void;
}

/** Above a live list: that it is paused, or how many newer rows wait behind "show". */
export function LiveListNotice({ paused, newCount, newCapped, onShowNew }: LiveListNoticeProps) {
  if (paused) {
    return (
      <Alert color="gray" mb="xs" data-testid="live-paused">
        Live updates are paused: this list stays as it is until you resume.
      </Alert>
    );
  }
  if (newCount === 0) return null;
  return (
    <Button variant="light" fullWidth mb="xs" onClick={onShowNew} data-testid="new-rows">
      {newCapped ? `${newCount}+` : newCount} new — show
    </Button>
  );
}
