import { useEffect } from 'react';

export const APP_NAME = 'Skiplock';

/** "Tasks · Skiplock": each page names itself in the tab and in the browser's history. */
export function useDocumentTitle(title: string | null | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · ${APP_NAME}` : APP_NAME;
  }, [title]);
}
