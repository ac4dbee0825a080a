import { createContext, useContext, type ReactNode } from 'react';

/** What this server offers beyond the API every client sees (from the runtime config). */
export interface Features {
  /** Demo data controls (SKIPLOCK_DEMO); off in production. */
  demo: boolean;
}

const FeaturesContext = createContext<Features>({ demo: false });

export function FeaturesProvider({ value, children }: { value: Features; children: ReactNode }) {
  return <FeaturesContext.Provider value={value}>{children}</FeaturesContext.Provider>;
}

export function useFeatures(): Features {
  return useContext(FeaturesContext);
}
