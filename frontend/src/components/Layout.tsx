import { AppShell, Burger, Group, NavLink, Text } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import {
  IconActivity,
  IconAlertTriangle,
  IconChartBar,
  IconLayoutDashboard,
  IconListDetails,
  IconServer,
  IconUsers,
} from '@tabler/icons-react';
import { NavLink as RouterNavLink, Outlet, useLocation } from 'react-router';
import { useIsAdmin } from '../auth/AuthProvider';
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
  { to: '/tenants', label: 'Tenants', icon: IconUsers, adminOnly: true },
];

export function Layout() {
  const [opened, { toggle, close }] = useDisclosure(false);
  const isAdmin = useIsAdmin();
  const items = NAV_ITEMS.filter((item) => isAdmin || !item.adminOnly);
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
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <IconActivity size={24} color="var(--mantine-primary-color-filled)" aria-hidden />
            <Text fw={700} size="lg">
              Skiplock
            </Text>
            <ConnectionBadge />
          </Group>
          <Group gap="xs" wrap="nowrap">
            {isAdmin && <DemoMenu />}
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
