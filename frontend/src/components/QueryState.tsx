import { Alert, Center, Loader } from '@mantine/core';
import { errorMessage } from '../api/client';

/** Loading and error placeholders shared by the pages. */
export function QueryState({ isLoading, error, label }: { isLoading: boolean; error: unknown; label: string }) {
  if (error) {
    return (
      <Alert color="red" title={`Could not load ${label}`} role="alert">
        {errorMessage(error)}
      </Alert>
    );
  }
  if (isLoading) {
    return (
      <Center py="xl">
        <Loader aria-label={`Loading ${label}`} />
      </Center>
    );
  }
  return null;
}
