import { Alert, Anchor, Stack, Title } from '@mantine/core';
import { Link } from 'react-router';
import { useDocumentTitle } from '../lib/useDocumentTitle';

export function NotFoundPage() {
  useDocumentTitle('Not found');
  return (
    <Stack>
      <Title order={1} size="h2">
        Not found
      </Title>
      <Alert color="gray" title="Page not found">
        There is nothing here. <Anchor component={Link} to="/">Back to the overview</Anchor>
      </Alert>
    </Stack>
  );
}

export function ForbiddenPage() {
  useDocumentTitle('Admins only');
  return (
    <Stack>
      <Title order={1} size="h2">
        Admins only
      </Title>
      <Alert color="red" title="Admins only" role="alert">
      This page needs an admin key. Your tenant key can see its own tasks, dead letters, analytics and workers.
      </Alert>
    </Stack>
  );
}
