import '@mantine/core/styles.css';
import '@mantine/charts/styles.css';
import '@mantine/notifications/styles.css';
import './app.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ApiClient } from './api/client';
import { readRuntimeConfig } from './config';

const config = readRuntimeConfig();
const api = new ApiClient({ apiBase: config.apiBase });
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');

createRoot(root).render(
  <StrictMode>
    <App api={api} basePath={config.basePath} demo={config.demo} />
  </StrictMode>,
);
