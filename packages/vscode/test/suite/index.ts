// placeholder, replaced below
export async function run(): Promise<void> {}
