import { useState, type FormEvent } from 'react';
import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { IconActivity } from '@tabler/icons-react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { ApiError, errorMessage } from '../api/client';
import { useAuth } from '../auth/AuthProvider';
import { ColorSchemeToggle } from '../components/HeaderControls';
import { useDocumentTitle } from '../lib/useDocumentTitle';

export function LoginPage() {
  useDocumentTitle('Sign in');
  const { state, login } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const from = (location.state as { from?: string } | null)?.from ?? '/';

  if (state.status === 'authenticated') return <Navigate to={from === '/login' ? '/' : from} replace />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!key.trim()) {
      setError('Enter an API key.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await login(key.trim());
      setKey('');
      navigate(from === '/login' ? '/' : from, { replace: true });
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That key was not accepted.' : errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={420} maw="100%" component="main">
        <form onSubmit={submit} noValidate>
          <Stack>
            <Stack gap={4} align="center">
              <IconActivity size={36} color="var(--mantine-primary-color-filled)" aria-hidden />
              <Title order={1} size="h2">
                Skiplock
              </Title>
              <Text c="dimmed" size="sm" ta="center">
                Sign in with an admin or tenant API key. The key is exchanged for a session cookie and is
                not stored in the browser.
              </Text>
            </Stack>
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <PasswordInput
              label="API key"
              placeholder="sk_…"
              value={key}
              onChange={(e) => setKey(e.currentTarget.value)}
              autoComplete="off"
              spellCheck={false}
              data-autofocus
              autoFocus
            />
            <Button type="submit" loading={busy} fullWidth>
              Sign in
            </Button>
            <Center>
              <ColorSchemeToggle />
            </Center>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
