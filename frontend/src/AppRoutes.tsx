import { lazy, Suspense, type ReactNode } from 'react';
import { Center, Loader } from '@mantine/core';
import { Navigate, Outlet, Route, Routes, useLocation } from 'react-router';
import { useAuth, useSeesAll } from './auth/AuthProvider';
import { Layout } from './components/Layout';
import { ForbiddenPage, NotFoundPage } from './pages/ErrorPages';
import { LoginPage } from './pages/LoginPage';

// Pages load on first visit, so the login page does not pull in the charting code.
const OverviewPage = lazy(() => import('./pages/OverviewPage').then((m) => ({ default: m.OverviewPage })));
const TasksPage = lazy(() => import('./pages/TasksPage').then((m) => ({ default: m.TasksPage })));
const TaskDetailPage = lazy(() => import('./pages/TaskDetailPage').then((m) => ({ default: m.TaskDetailPage })));
const DeadLettersPage = lazy(() => import('./pages/DeadLettersPage').then((m) => ({ default: m.DeadLettersPage })));
const AnalyticsPage = lazy(() => import('./pages/AnalyticsPage').then((m) => ({ default: m.AnalyticsPage })));
const WorkersPage = lazy(() => import('./pages/WorkersPage').then((m) => ({ default: m.WorkersPage })));
const TaskTypesPage = lazy(() => import('./pages/TaskTypesPage').then((m) => ({ default: m.TaskTypesPage })));
const SchedulesPage = lazy(() => import('./pages/SchedulesPage').then((m) => ({ default: m.SchedulesPage })));
const TenantsPage = lazy(() => import('./pages/TenantsPage').then((m) => ({ default: m.TenantsPage })));
const ApiKeysPage = lazy(() => import('./pages/ApiKeysPage').then((m) => ({ default: m.ApiKeysPage })));

function Page({ children }: { children: ReactNode }) {
  return (
    <Suspense
      fallback={
        <Center py="xl">
          <Loader aria-label="Loading page" />
        </Center>
      }
    >
      {children}
    </Suspense>
  );
}

function RequireAuth() {
  const { state } = useAuth();
  const location = useLocation();
  if (state.status === 'checking') {
    return (
      <Center h="100vh">
        <Loader aria-label="Checking session" />
      </Center>
    );
  }
  if (state.status === 'anonymous') {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <Outlet />;
}

function RequireAdmin() {
  // Readers see the admin pages too; their actions are hidden there.
  return useSeesAll() ? <Outlet /> : <ForbiddenPage />;
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route element={<RequireAuth />}>
        <Route element={<Layout />}>
          <Route index element={<Page><OverviewPage /></Page>} />
          <Route path="tasks" element={<Page><TasksPage /></Page>} />
          <Route path="tasks/:id" element={<Page><TaskDetailPage /></Page>} />
          <Route path="dead-letters" element={<Page><DeadLettersPage /></Page>} />
          <Route path="analytics" element={<Page><AnalyticsPage /></Page>} />
          <Route path="workers" element={<Page><WorkersPage /></Page>} />
          <Route path="task-types" element={<Page><TaskTypesPage /></Page>} />
          <Route path="schedules" element={<Page><SchedulesPage /></Page>} />
          <Route element={<RequireAdmin />}>
            <Route path="tenants" element={<Page><TenantsPage /></Page>} />
            <Route path="api-keys" element={<Page><ApiKeysPage /></Page>} />
          </Route>
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
    </Routes>
  );
}
