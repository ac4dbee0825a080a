import { AppShell, Burger, Group, NavLink, Text } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import {
  IconActivity,
  IconBoxMultiple,
  IconAlertTriangle,
  IconChartBar,
  IconClock,
  IconLayoutDashboard,
  IconListDetails,
  IconKey,
  IconServer,
  IconUsers,
} from '@tabler/icons-react';
import { NavLink as RouterNavLink, Outlet, useLocation } from 'react-router';
import { useIsAdmin, useSeesAll } from '../auth/AuthProvider';
import { useFeatures } from '../features';
import { ConnectionBadge } from './ConnectionBadge';
import { ColorSchemeToggle, DemoMenu, IdentityMenu } from './HeaderControls';

interface NavItem {
  to: string;
  label: string;
  icon: typeof IconActivity;
  adminOnly?: boolean;
}

export const NAV_ITEMS: NavItem[] = [
  { to: '/', label: 'Overview', icon: IconLayoutDashboard },
  { to: '/tasks', label: 'Tasks', icon: IconListDetails },
  { to: '/dead-letters', label: 'Dead letters', icon: IconAlertTriangle },
  { to: '/analytics', label: 'Analytics', icon: IconChartBar },
  { to: '/workers', label: 'Workers', icon: IconServer },
  { to: '/task-types', label: 'Task types', icon: IconBoxMultiple },
  { to: '/schedules', label: 'Schedules', icon: IconClock },
  { to: '/tenants', label: 'Tenants', icon: IconUsers, adminOnly: true },
  { to: '/api-keys', label: 'API keys', icon: IconKey, adminOnly: true },
];

export function Layout() {
  const [opened, { toggle, close }] = useDisclosure(false);
  const isAdmin = useIsAdmin();
  const { demo } = useFeatures();
  const seesAll = useSeesAll();
  const items = NAV_ITEMS.filter((item) => seesAll || !item.adminOnly);
  const { pathname } = useLocation();
  const isActive = (to: string) => (to === '/' ? pathname === '/' : pathname === to || pathname.startsWith(`${to}/`));

  return (
    <AppShell
      header={{ height: 60 }}
      navbar={{ width: 210, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding="md"
    >
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <AppShell.Header>
        <Group h="100%" px={{ base: 'xs', sm: 'md' }} justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <IconActivity size={24} color="var(--mantine-primary-color-filled)" aria-hidden />
            {/* On a phone the logo alone names the app; the header must leave room for Sign out. */}
            <Text fw={700} size="lg" visibleFrom="xs">
              Skiplock
            </Text>
            <ConnectionBadge />
          </Group>
          <Group gap={6} wrap="nowrap">
            {isAdmin && demo && <DemoMenu />}
            <ColorSchemeToggle />
            <IdentityMenu />
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        {items.map((item) => (
          <NavLink
            key={item.to}
            component={RouterNavLink}
            to={item.to}
            end={item.to === '/'}
            active={isActive(item.to)}
            label={item.label}
            leftSection={<item.icon size={18} aria-hidden />}
            onClick={close}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main id="main" tabIndex={-1}>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
