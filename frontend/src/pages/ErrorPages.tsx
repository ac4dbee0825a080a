import { Alert, Anchor, Stack } from '@mantine/core';
import { Link } from 'react-router';

export function NotFoundPage() {
  return (
    <Stack>
      <Alert color="gray" title="Page not found">
        There is nothing here. <Anchor component={Link} to="/">Back to the overview</Anchor>
      </Alert>
    </Stack>
  );
}

export function ForbiddenPage() {
  return (
    <Alert color="red" title="Admins only" role="alert">
      This page needs an admin key. Your tenant key can see its own tasks, dead letters, analytics and workers.
    </Alert>
  );
}
