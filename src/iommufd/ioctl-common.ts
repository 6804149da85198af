// Shared types of the ioctl handler modules: the context they run in (the iommufd_ctx).

import type { IommufdCtx } from './iommufd.ts';

/** The context an ioctl handler runs in. */
export type IoctlHandlerCtx = IommufdCtx;
