import { notifications } from '@mantine/notifications';
import { errorMessage } from '../api/client';

export function notifySuccess(message: string, title?: string): void {
  notifications.show({ color: 'green', title, message });
}

export function notifyError(error: unknown, title = 'Request failed'): void {
  notifications.show({ color: 'red', title, message: errorMessage(error), autoClose: 8000 });
}
