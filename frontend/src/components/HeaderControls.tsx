import { ActionIcon, Badge, Button, Group, Menu, Text, Tooltip, useComputedColorScheme, useMantineColorScheme } from '@mantine/core';
import { IconDatabasePlus, IconLogout, IconMoon, IconSun } from '@tabler/icons-react';
import { useNavigate } from 'react-router';
import { useDemoAction } from '../api/queries';
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

export function DemoMenu() {
  const demo = useDemoAction();
  const run = (action: 'seed' | 'clear') =>
    demo.mutate(action, {
      onSuccess: (res) =>
        notifySuccess(
          action === 'seed' ? `Created ${res.created ?? 0} demo tasks` : `Removed ${res.deleted ?? 0} demo tasks`,
          'Demo data',
        ),
      onError: (err) => notifyError(err, 'Demo data'),
    });
  return (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <Button variant="default" leftSection={<IconDatabasePlus size={16} />} loading={demo.isPending}>
          Demo data
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item onClick={() => run('seed')}>Seed demo tasks</Menu.Item>
        <Menu.Item color="red" onClick={() => run('clear')}>
          Clear demo tasks
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

export function IdentityMenu() {
  const session = useSession();
  const { logout } = useAuth();
  const navigate = useNavigate();
  return (
    <Group gap="xs" wrap="nowrap">
      <Badge variant="outline" color={session.role === 'admin' ? 'grape' : 'blue'} data-testid="identity">
        {session.role === 'admin' ? 'admin' : `tenant ${session.tenant ?? ''}`}
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
