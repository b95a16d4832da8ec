/** Node entry: `erofs-kit-lsp --stdio` (also --node-ipc and --socket=PORT, as vscode-languageserver parses them). */
import { ProposedFeatures, createConnection } from 'vscode-languageserver/node';
import { nodeLayouts } from './layout-node.js';
import { startServer } from './server.js';

startServer(createConnection(ProposedFeatures.all), nodeLayouts);
