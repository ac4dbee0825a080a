import { useState } from 'react';
import { ActionIcon, Badge, Button, Group, Loader, Menu, Text, Tooltip, useComputedColorScheme, useMantineColorScheme } from '@mantine/core';
import { IconDatabasePlus, IconLogout, IconMoon, IconSun } from '@tabler/icons-react';
import { useNavigate } from 'react-router';
import { useDemoAction, useDemoClearPreview } from '../api/queries';
import { ConfirmModal } from './ConfirmModal';
import { useAuth, useSession } from '../auth/AuthProvider';
import { notifyError, notifySuccess } from '../lib/notify';

export function ColorSchemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const computed = useComputedColorScheme('light');
  const next = computed === 'dark' ? 'light' : 'dark';
  return (
    <Tooltip label={`Switch to ${next} mode`}>
      <ActionIcon variant="default" size="lg" onClick={() => setColorScheme(next)} aria-label={`Switch to ${next} mode`}>
        {computed === 'dark' ? <IconSun size={18} /> : <IconMoon size={18} />}
      </ActionIcon>
    </Tooltip>
  );
}

/** Seeding and clearing demo data; rendered only where the server offers it (SKIPLOCK_DEMO). */
export function DemoMenu() {
  const demo = useDemoAction();
  const [confirming, setConfirming] = useState(false);
  const preview = useDemoClearPreview(confirming);
  const run = (action: 'seed' | 'clear') =>
    demo.mutate(action, {
      onSuccess: (res) => {
        setConfirming(false);
        notifySuccess(
          action === 'seed' ? `Created ${res.created ?? 0} demo tasks` : `Removed ${res.deleted ?? 0} demo tasks`,
          'Demo data',
        );
      },
      onError: (err) => notifyError(err, 'Demo data'),
    });
  const count = preview.data?.deleted;
  return (
    <>
      <Menu position="bottom-end" withinPortal>
        <Menu.Target>
          <Button variant="default" leftSection={<IconDatabasePlus size={16} />} loading={demo.isPending} aria-label="Demo data">
            <Text span visibleFrom="sm" inherit>
              Demo data
            </Text>
          </Button>
        </Menu.Target>
        <Menu.Dropdown>
          <Menu.Item onClick={() => run('seed')}>Seed demo tasks</Menu.Item>
          <Menu.Item color="red" onClick={() => setConfirming(true)}>
            Clear demo tasks…
          </Menu.Item>
        </Menu.Dropdown>
      </Menu>
      <ConfirmModal
        opened={confirming}
        title="Clear demo tasks"
        confirmLabel={count ? `Delete ${count.toLocaleString('en')} tasks` : 'Delete'}
        color="red"
        loading={demo.isPending}
        disabled={!preview.isSuccess || !count}
        onConfirm={() => run('clear')}
        onClose={() => setConfirming(false)}
      >
        <span data-testid="demo-clear-preview">
          {preview.isPending ? (
            <>
              <Loader size="xs" mr="xs" /> Counting the demo tenants' tasks…
            </>
          ) : preview.isError ? (
            'Could not count the demo tasks; try again.'
          ) : count === 0 ? (
            'The demo tenants have no tasks.'
          ) : (
            <>
              <strong>{(count ?? 0).toLocaleString('en')}</strong> task{count === 1 ? '' : 's'} of the demo tenants (any state) will
              be deleted for good. The tenants stay.
            </>
          )}
        </span>
      </ConfirmModal>
    </>
  );
}

export function IdentityMenu() {
  const session = useSession();
  const { logout } = useAuth();
  const navigate = useNavigate();
  return (
    <Group gap="xs" wrap="nowrap">
      <Badge variant="outline" color={session.role === 'admin' ? 'grape' : session.role === 'reader' ? 'teal' : 'blue'} data-testid="identity">
        {session.role === 'tenant' ? `tenant ${session.tenant ?? ''}` : session.role === 'reader' ? 'reader (read-only)' : 'admin'}
      </Badge>
      <Text size="xs" c="dimmed" className="mono" visibleFrom="md">
        {session.key_prefix}
      </Text>
      <Tooltip label="Sign out">
        <ActionIcon
          variant="default"
          size="lg"
          aria-label="Sign out"
          onClick={() => void logout().then(() => navigate('/login', { replace: true }))}
        >
          <IconLogout size={18} />
        </ActionIcon>
      </Tooltip>
    </Group>
  );
}
